package serverproc

import (
	"io"
	"os"
	"strings"
)

// Tail returns the last n lines of the file name, reading at most its last
// MiB ("" when it does not exist or n <= 0).
func Tail(name string, n int) string {
	if name == "" || n <= 0 {
		return ""
	}
	const window = 1 << 20
	return LastLines(string(ReadFrom(name, max(0, FileSize(name)-window))), n)
}

// FileSize returns the size of name, 0 when it cannot be read.
func FileSize(name string) int64 {
	fi, err := os.Stat(name)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// ReadFrom returns the contents of name from offset on (nil on error).
func ReadFrom(name string, offset int64) []byte {
	f, err := os.Open(name)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil
	}
	data, _ := io.ReadAll(f)
	return data
}

// LastLines returns the last n lines of text.
func LastLines(text string, n int) string {
	text = strings.TrimRight(text, "\n")
	if text == "" {
		return ""
	}
	lines := strings.Split(text, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
