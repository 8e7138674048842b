"""The README's Python example runs as written, and its Quickstart names the scripts CI uses."""

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def test_python_example_runs(capsys):
    block = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # our own README, not user input
    assert round(namespace["crit"].sigma_w2, 4) == 1.7610
    assert namespace["d"].chi_1.shape == (150, 200)


def test_quickstart_has_the_two_commands_and_ci_calls_the_test_one():
    quick = README.split("## Quickstart", 1)[1].split("##", 1)[0]
    commands = re.findall(r"^(scripts/\w+)", re.search(r"```bash\n(.*?)```", quick, re.S).group(1), re.M)
    assert commands == ["scripts/start", "scripts/test"]
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()
