package merge

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable returns s with what a terminal would act on escaped as Go
// writes it in a quoted string: control characters (C0 such as ESC and
// newline, DEL, C1 such as CSI) as \x1b, \n or \u009b, bidirectional
// overrides as \u202e, and bytes that are not UTF-8 as \xff. Other text,
// letters of any script included, is unchanged. Registry-supplied text (a
// platform's os or architecture, a media type, an annotation, a
// registry's error message) goes through it before it is printed, so a
// registry cannot move the cursor, recolour or retitle the user's
// terminal, or hide text. FormatPlatform's result has been through it.
func Printable(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, unsafeRune) < 0 {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], string(utf8.RuneError)):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafeRune(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}
