//go:build !unix

package main

import (
	"errors"
	"os"
)

// openTTY: there is no controlling terminal to open on this system; the
// prompt needs stdin to be the terminal.
func openTTY() (*os.File, error) { return nil, errors.New("no controlling terminal") }
