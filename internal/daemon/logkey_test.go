package daemon

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestOneLogKeyForErrors: every slog call in banger logs an error under
// "error", the key the CLI's startup-failure reader looks for; a cause
// logged under another key never reaches the user.
func TestOneLogKeyForErrors(t *testing.T) {
	call := regexp.MustCompile(`\.(Debug|Info|Warn|Error)(Context)?\(.*"(err|errMsg|err_msg)",`)
	root := filepath.Join("..", "..")
	var bad []string
	for _, dir := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for i, line := range strings.Split(string(b), "\n") {
				if call.MatchString(line) {
					bad = append(bad, p+":"+strconv.Itoa(i+1)+": "+strings.TrimSpace(line))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("log errors under the key \"error\":\n%s", strings.Join(bad, "\n"))
	}
}
