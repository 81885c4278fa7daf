"""The story reader parses with libyaml's C parser whenever PyYAML has it.

PyYAML's pure-Python parser is about five times slower on a large story. A
refactor once looked the C parser up as `yaml.CParser`, which PyYAML does not
re-export (only `yaml.cyaml` has it), so every story was silently parsed in
Python; only a benchmark noticed. This is not a timing test: it checks which
parser the reader uses.
"""

from __future__ import annotations

import pytest
import yaml

from branching.story import yamlread


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML was built without libyaml")
def test_the_reader_uses_libyaml_when_pyyaml_has_it() -> None:
    assert yamlread._Parser is yaml.cyaml.CParser
