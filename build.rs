// Embeds the git commit (when building from a checkout) so results say what produced them.
fn git(args: &[&str]) -> Option<String> {
    std::process::Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|text| text.trim().to_string())
}

fn main() {
    // Where HEAD and the refs live: `.git/` in a clone, elsewhere in a worktree (where `.git`
    // is a file, and a path that never exists would rebuild every time).
    // Only the branch HEAD names, not every ref: a commit on another branch or worktree must
    // not rebuild this one.
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    // A path that does not exist is stale to cargo at every build: `packed-refs` is absent until
    // git packs refs, and a packed branch has no loose file, so its folder is watched instead
    // (where the loose file appears at the next commit).
    for what in ["HEAD", "packed-refs"].into_iter().chain(branch.as_deref()) {
        let Some(path) = git(&["rev-parse", "--git-path", what]) else {
            continue;
        };
        let path = std::path::Path::new(&path);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        } else if Some(what) == branch.as_deref()
            && let Some(folder) = path.parent().filter(|folder| folder.exists())
        {
            println!("cargo:rerun-if-changed={}", folder.display());
        }
    }
    if let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) {
        println!("cargo:rustc-env=MEMLAB_GIT_COMMIT={commit}");
    }
}
