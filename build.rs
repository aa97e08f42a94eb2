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
    for what in ["HEAD", "packed-refs"].into_iter().chain(branch.as_deref()) {
        match git(&["rev-parse", "--git-path", what]) {
            Some(path) => println!("cargo:rerun-if-changed={path}"),
            None => println!("cargo:rerun-if-changed=.git/{what}"),
        }
    }
    if let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) {
        println!("cargo:rustc-env=MEMLAB_GIT_COMMIT={commit}");
    }
}
