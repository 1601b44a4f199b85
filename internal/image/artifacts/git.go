package artifacts

import (
	"context"
	"fmt"
	"os"
	"strings"

	"banger/internal/execx"
)

// gitEnv keeps the user's and the system's git configuration (hooks,
// credential helpers, url rewrites) out of handling a bundle that may come
// from an untrusted mirror.
var gitEnv = []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0"}

// git runs one git command with banger's isolated environment. Objects are
// fsck'd on fetch so a malformed bundle fails here, not later.
func (f *Fetcher) git(ctx context.Context, dir string, args ...string) (string, error) {
	bin := f.GitBin
	if bin == "" {
		bin = "git"
	}
	argv := append([]string{bin, "-c", "transfer.fsckObjects=true", "-c", "init.defaultBranch=main"}, args...)
	out, err := execx.Cmd{Argv: argv, Env: gitEnv, Dir: dir}.Run(ctx)
	return strings.TrimSpace(string(out)), err
}

// fetchTag fetches only the pinned tag from bundle into the repository at
// dir and returns the commit it names.
func (f *Fetcher) fetchTag(ctx context.Context, a Artifact, bundle, dir string) (string, error) {
	ref := "refs/tags/" + a.Tag
	if _, err := f.git(ctx, dir, "fetch", "--quiet", "--no-tags", bundle, "+"+ref+":"+ref); err != nil {
		return "", fmt.Errorf("read tag %s from git bundle %s: %w", a.Tag, bundle, err)
	}
	commit, err := f.git(ctx, dir, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("resolve tag %s in git bundle %s: %w", a.Tag, bundle, err)
	}
	return commit, nil
}

// verifyGit clones the pinned tag out of bundle into a throwaway bare
// repository and checks the commit it resolves to.
func (f *Fetcher) verifyGit(ctx context.Context, a Artifact, bundle, from string) error {
	tmp, err := os.MkdirTemp("", "banger-git-verify-")
	if err != nil {
		return fmt.Errorf("verify %s: %w", a, err)
	}
	defer os.RemoveAll(tmp)
	if _, err := f.git(ctx, "", "init", "--quiet", "--bare", tmp); err != nil {
		return fmt.Errorf("verify %s: %w", a, err)
	}
	commit, err := f.fetchTag(ctx, a, bundle, tmp)
	if err != nil {
		return &MismatchError{Artifact: a, From: from, Want: "tag " + a.Tag + " at commit " + a.Commit, Got: err.Error()}
	}
	if commit != a.Commit {
		return &MismatchError{Artifact: a, From: from, Want: "tag " + a.Tag + " at commit " + a.Commit, Got: "commit " + commit}
	}
	return nil
}

// Checkout makes dest (which must not exist) a work tree of the artifact
// at its pinned commit, from a bundle that Fetch returned. The commit is
// checked again, so a bundle swapped after fetching is refused.
func (f *Fetcher) Checkout(ctx context.Context, a Artifact, bundle, dest string) error {
	if a.Kind != Git {
		return fmt.Errorf("checkout %s: not a git artifact", a)
	}
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("checkout %s: %s already exists", a, dest)
	}
	fail := func(err error) error {
		os.RemoveAll(dest)
		return fmt.Errorf("checkout %s into %s: %w", a, dest, err)
	}
	if _, err := f.git(ctx, "", "init", "--quiet", dest); err != nil {
		return fail(err)
	}
	commit, err := f.fetchTag(ctx, a, bundle, dest)
	if err != nil {
		return fail(err)
	}
	if commit != a.Commit {
		return fail(&MismatchError{Artifact: a, From: bundle, Want: "tag " + a.Tag + " at commit " + a.Commit, Got: "commit " + commit})
	}
	if _, err := f.git(ctx, dest, "checkout", "--quiet", "--detach", a.Commit); err != nil {
		return fail(err)
	}
	return nil
}
