"""`import-crontab` reads no more than a crontab could hold: an endless producer, /dev/zero or
a huge file named by mistake is refused in one line, not read whole into memory."""

from __future__ import annotations

import resource
import subprocess

from conftest import JOBCTL, Env

from jobctl.cli.crontab_cmd import LONGEST_CRONTAB

_LINE = "* * * * * echo hi\n"
_REFUSED = f"over {LONGEST_CRONTAB} characters, far longer than a crontab (nothing imported)"


def _limited_memory() -> None:
    """1.5 GB of address space: an unbounded read fails at once, not after the host's."""
    resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))


def test_an_endless_stdin_is_refused_at_the_limit(env: Env) -> None:
    """`yes '* * * * * echo hi' | jobctl import-crontab -` grew at GB/s until the OOM killer
    (or a MemoryError, exit 1, under a ulimit)."""
    producer = subprocess.Popen(["yes", _LINE.strip()], stdout=subprocess.PIPE)
    assert producer.stdout is not None
    try:
        result = subprocess.run(
            [*JOBCTL, "import-crontab", "-"],
            stdin=producer.stdout,
            capture_output=True,
            text=True,
            env=env.env,
            cwd=env.root,
            timeout=60,
            preexec_fn=_limited_memory,
        )
    finally:
        producer.stdout.close()
        producer.kill()
        producer.wait()
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"jobctl: <stdin>: {_REFUSED}\n"


def test_dev_zero_and_a_file_over_the_limit_are_refused(env: Env) -> None:
    big = env.root / "huge"
    with big.open("w") as handle:
        handle.write(_LINE * (LONGEST_CRONTAB // len(_LINE) + 1))
    for source in ("/dev/zero", str(big)):
        result = subprocess.run(
            [*JOBCTL, "import-crontab", source],
            capture_output=True,
            text=True,
            env=env.env,
            cwd=env.root,
            timeout=60,
            preexec_fn=_limited_memory,
        )
        assert (result.returncode, result.stdout) == (2, ""), result.stderr
        assert result.stderr == f"jobctl: {source}: {_REFUSED}\n"


def test_a_crontab_at_the_limit_still_converts(env: Env) -> None:
    """The limit refuses what is longer, not a crontab of exactly that many characters."""
    comment = "# " + "x" * (LONGEST_CRONTAB - len(_LINE) - 3) + "\n"
    text = comment + _LINE
    assert len(text) == LONGEST_CRONTAB
    result = env.run("import-crontab", "-", input=text, config=False)
    assert result.returncode == 0, result.stderr
    assert "[schedules." in result.stdout
