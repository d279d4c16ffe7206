package main

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"
	"github.com/spdx/tools-golang/spdxlib"
)

// mabModule is the main module of the release.
const mabModule = "github.com/mab-build/mab"

// module is one Go module linked into a release binary.
type module struct{ Path, Version string }

// sbom is the SPDX 2.3 document of the release: mab's own package, which
// DEPENDS_ON every Go module linked into any of the binaries (read from
// their build info, replacements applied) and on the Go standard library
// of the toolchain that built them. Each package names its purl.
func sbom(s stamp, binaries []string) (*spdx.Document, error) {
	var goVersion string
	seen := map[module]bool{}
	for _, bin := range binaries {
		info, err := buildinfo.ReadFile(bin)
		if err != nil {
			return nil, fmt.Errorf("reading the build info of %s: %w", bin, err)
		}
		goVersion = info.GoVersion
		for _, d := range info.Deps {
			m := module{d.Path, d.Version}
			if d.Replace != nil {
				m = module{d.Replace.Path, d.Replace.Version}
			}
			seen[m] = true
		}
	}
	mods := make([]module, 0, len(seen))
	for m := range seen {
		mods = append(mods, m)
	}
	slices.SortFunc(mods, func(a, b module) int { return strings.Compare(a.Path+"@"+a.Version, b.Path+"@"+b.Version) })

	mab := goPackage(module{mabModule, s.Version}, "https://"+mabModule)
	mab.PackageLicenseDeclared = "Apache-2.0"
	mab.PackageCopyrightText = "NOASSERTION"
	mab.PrimaryPackagePurpose = "APPLICATION"
	mab.PackageSourceInfo = "git commit " + s.Commit
	mab.BuiltDate = s.Date.Format(time.RFC3339)
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      "mab-" + s.Version,
		DocumentNamespace: fmt.Sprintf("https://%s/spdx/%s-%s", mabModule, s.Version, s.Commit),
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: "mab-release-" + s.Version}, {CreatorType: "Organization", Creator: "mab-build"}},
			Created:  s.Date.Format(time.RFC3339),
		},
		Packages: []*spdx.Package{mab},
		Relationships: []*spdx.Relationship{{
			RefA: common.MakeDocElementID("", "DOCUMENT"), RefB: common.MakeDocElementID("", string(mab.PackageSPDXIdentifier)), Relationship: "DESCRIBES",
		}},
	}
	deps := make([]*spdx.Package, 0, len(mods)+1)
	for _, m := range mods {
		deps = append(deps, goPackage(m, "https://proxy.golang.org/"+m.Path+"/@v/"+m.Version+".zip"))
	}
	if goVersion != "" {
		std := goPackage(module{"stdlib", goVersion}, "https://go.dev/dl/")
		std.PackageLicenseDeclared = "BSD-3-Clause"
		deps = append(deps, std)
	}
	for _, p := range deps {
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", string(mab.PackageSPDXIdentifier)), RefB: common.MakeDocElementID("", string(p.PackageSPDXIdentifier)), Relationship: "DEPENDS_ON",
		})
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		return nil, err
	}
	return doc, nil
}

var notIDChar = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// goPackage is the SPDX package of one Go module: its licence is not
// asserted (the SBOM lists what is linked, not a licence review).
func goPackage(m module, download string) *spdx.Package {
	return &spdx.Package{
		PackageName:             m.Path,
		PackageSPDXIdentifier:   common.ElementID("Package-go-" + notIDChar.ReplaceAllString(m.Path+"-"+m.Version, "-")),
		PackageVersion:          m.Version,
		PackageDownloadLocation: download,
		FilesAnalyzed:           false,
		PackageLicenseConcluded: "NOASSERTION",
		PackageLicenseDeclared:  "NOASSERTION",
		PackageCopyrightText:    "NOASSERTION",
		PackageExternalReferences: []*spdx.PackageExternalReference{{
			Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: "pkg:golang/" + m.Path + "@" + m.Version,
		}},
	}
}

// writeSBOM writes doc as SPDX JSON.
func writeSBOM(path string, doc *spdx.Document) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := spdxjson.Write(doc, f, spdxjson.Indent("  ")); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
