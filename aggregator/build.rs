//! Build script: stamps the binary with the target and git commit that `--version`
//! reports (`PIMON_TARGET`, `PIMON_GIT_COMMIT`); the how is `pimon-build-info`, shared
//! with the other binary.

fn main() {
    pimon_build_info::emit();
}
