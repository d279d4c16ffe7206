package main

import "github.com/mab-build/mab/internal/pipeline"

// runner runs `mab build`'s plans. Its zero value uses the real builders,
// registries and Docker daemon; only a test binary changes it (the script
// tests put fake builders in its Dial and Discover), before any command
// runs. mab's own binary has no flag or variable that reaches it.
var runner pipeline.Runner
