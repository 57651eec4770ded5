package main

import (
	"fmt"
	"io"
)

func runInit(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "havend init: not in this build yet")
	return 2
}
