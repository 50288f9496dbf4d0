"""The one reader of YAML and JSON: each decoding rule gives one line naming the file and the
place, never a traceback, whatever the document."""

from __future__ import annotations

import pytest

from hwsim.errors import HwsimError
from hwsim.files import comma_list, parse_json, parse_yaml, read_json, read_yaml
from hwsim.limits import INT64_MAX, MAX_CONFIG_BYTES, MAX_CONFIG_NODES, MAX_NESTING


def _err(fn, *args) -> str:
    with pytest.raises(HwsimError) as info:
        fn(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("data, expected", [
    (b"description: caf\xe9\n", r"w.yaml: not UTF-8 text: byte 0xe9 at line 1 \(offset 16\)"),
    (b"a: 1\n\x00\xff\xfe", "byte 0xff at line 2"),
])
def test_bytes_that_are_not_utf8_are_refused_with_their_place(tmp_path, data, expected):
    path = tmp_path / "w.yaml"
    path.write_bytes(data)
    with pytest.raises(HwsimError, match=expected):
        read_yaml(path, "workload")


def test_a_utf8_byte_order_mark_is_dropped(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_bytes("\ufeffdescription: café\n".encode())
    assert read_yaml(path, "workload") == {"description": "café"}


def test_a_folder_and_an_oversized_file_are_refused(tmp_path):
    assert "is a folder, not a workload file" in _err(read_yaml, tmp_path, "workload")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    assert "larger than the limit of 16 MiB" in _err(read_yaml, big, "workload")


@pytest.mark.parametrize("levels", [MAX_NESTING + 1, 100_000])
def test_nesting_beyond_the_limit_is_refused_in_yaml_and_json(levels):
    deep = "[" * levels + "]" * levels
    assert f"nested deeper than the limit of {MAX_NESTING} levels" in _err(
        parse_yaml, f"model: {deep}", "w.yaml")
    assert f"nested deeper than the limit of {MAX_NESTING} levels" in _err(
        parse_json, deep, "config.json")


def test_nesting_at_the_limit_is_read():
    # The mapping is level 1, so MAX_NESTING - 1 lists fit inside it.
    inner = MAX_NESTING - 1
    assert parse_yaml("a: " + "[" * inner + "]" * inner, "w.yaml") is not None
    assert parse_json("[" * MAX_NESTING + "]" * MAX_NESTING, "c.json") is not None


def test_an_alias_bomb_is_refused_by_its_expanded_size():
    # 10 ** 7 values once expanded, from a 200-byte file.
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7)]
    message = _err(parse_yaml, "\n".join(lines), "bomb.yaml")
    assert f"more than the limit of {MAX_CONFIG_NODES:,} values" in message


def test_aliases_within_the_limit_are_read():
    assert parse_yaml("a: &x [1, 2]\nb: *x\nc: {<<: {d: 1}, e: 2}", "w.yaml") == {
        "a": [1, 2], "b": [1, 2], "c": {"d": 1, "e": 2}}


@pytest.mark.parametrize("text, where", [
    ("batch: 1\nbatch: 2\n", "line 2, column 1: duplicate key 'batch' (first given at line 1"),
    ("axes: []\nname: x\naxes: []\n", "line 3, column 1: duplicate key 'axes'"),
    ("hw: {clock_mhz: 1, clock_mhz: 2}\n", "duplicate key 'clock_mhz'"),
])
def test_duplicate_yaml_keys_are_refused(text, where):
    assert where in _err(parse_yaml, text, "w.yaml")


def test_duplicate_json_keys_are_refused():
    assert "config.json: duplicate key 'hidden_size'" in _err(
        parse_json, '{"hidden_size": 1, "hidden_size": 2}', "config.json")


@pytest.mark.parametrize("literal", [str(INT64_MAX + 1), str(-INT64_MAX - 2), "10" * 50_000,
                                     "0x1" + "0" * 16, "20_000_000_000_000_000_000"])
def test_integers_outside_int64_are_refused(literal):
    assert "outside the 64-bit range" in _err(parse_yaml, f"batch: {literal}", "w.yaml")
    if literal.lstrip("-").isdigit():
        assert "outside the 64-bit range" in _err(parse_json, f"[{literal}]", "c.json")


@pytest.mark.parametrize(("literal", "form"), [
    ("010", "octal integer (8)"), ("-007", "octal integer (-7)"), ("1:00", "base 60 integer (60)"),
    ("0b1000", "binary integer (8)"), ("1:30.5", "base 60 number (90.5)")])
def test_yaml_1_1_number_forms_are_refused(literal, form):
    # `prompt_tokens: 010` ran 8 tokens, `generate_tokens: 1:00` 60: YAML 1.1's readings,
    # which YAML 1.2 and a reader do not share.
    assert f"line 1, column 16: {literal} is a YAML 1.1 {form}" in _err(
        parse_yaml, f"prompt_tokens: {literal}", "w.yaml")


@pytest.mark.parametrize(("literal", "value"), [("0", 0), ("10", 10), ("0x40", 64),
                                                ("1_000", 1000), ("'010'", "010")])
def test_unambiguous_numbers_are_read(literal, value):
    assert parse_yaml(f"a: {literal}", "w.yaml") == {"a": value}


def test_a_second_merge_key_is_refused():
    # The second << was dropped silently: {<<: *a, <<: {m: 32}} kept m = 16.
    text = "a: &a {m: 16}\nb: {<<: *a, <<: {m: 32}, name: h}\n"
    assert "line 2, column 13: a second merge key << (first given at line 2, column 5)" in \
        _err(parse_yaml, text, "w.yaml")
    both = parse_yaml("a: &a {m: 16}\nc: &c {k: 4}\nb: {<<: [*a, *c]}\n", "w.yaml")
    assert both["b"] == {"m": 16, "k": 4}


@pytest.mark.parametrize("literal", [str(INT64_MAX), str(-INT64_MAX - 1)])
def test_the_int64_extremes_are_read(literal):
    assert parse_yaml(f"a: {literal}", "w.yaml") == {"a": int(literal)}
    assert parse_json(f"[{literal}]", "c.json") == [int(literal)]


@pytest.mark.parametrize("literal", [".nan", ".NaN", ".inf", "-.inf", "1.0e+400"])
def test_yaml_nan_and_infinities_are_refused(literal):
    assert "is not a finite number" in _err(parse_yaml, f"bits: {literal}", "w.yaml")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_json_nan_and_infinities_are_refused(literal):
    assert "is not a finite number" in _err(parse_json, f'{{"x": {literal}}}', "c.json")


@pytest.mark.parametrize(("literal", "value"), [
    ("1e3", 1000.0), ("5e-3", 0.005), ("-2.5E+2", -250.0), ("1_0e2", 1000.0), ("1.0e3", 1000.0),
])
def test_exponent_floats_without_a_dot_are_numbers(literal, value):
    # YAML 1.2 reads them as floats, PyYAML's 1.1 as text, which the strict schemas refuse.
    assert parse_yaml(f"x: {literal}", "t") == {"x": value}


@pytest.mark.parametrize("literal", ["1e", "e3", "'1e3'", "1e3x"])
def test_text_that_only_looks_like_an_exponent_stays_text(literal):
    assert isinstance(parse_yaml(f"x: {literal}", "t")["x"], str)


def test_an_exponent_beyond_a_float_is_refused():
    with pytest.raises(HwsimError, match=r"t: line 1, column 4: 1e400 is not a finite number"):
        parse_yaml("x: 1e400", "t")


def test_malformed_documents_name_the_line(tmp_path):
    assert "malformed YAML at line 1" in _err(parse_yaml, "a: [1, 2", "w.yaml")
    path = tmp_path / "config.json"
    path.write_text('{\n"a": }')
    assert "config.json: invalid JSON at line 2, column 6" in _err(read_json, path, "config")


@pytest.mark.parametrize(("text", "message"), [
    ("", "--formats '': an empty item"),
    ("int4,", "--formats 'int4,': an empty item"),
    ("int4,,int8", "--formats 'int4,,int8': an empty item"),
    ("int4, int8,int4,int8", "--formats 'int4, int8,int4,int8': int4, int8 given twice"),
])
def test_a_comma_list_refuses_empty_and_repeated_items(text, message):
    with pytest.raises(HwsimError) as info:
        comma_list(text, "--formats")
    assert str(info.value) == message + ("; give comma-separated names" if "empty" in message
                                         else "")


def test_a_comma_list_strips_its_items():
    assert comma_list(" int4 ,bitmod4", "--formats") == ["int4", "bitmod4"]


def test_an_output_folder_that_cannot_be_written_is_said_before_any_work(tmp_path,
                                                                        monkeypatch):
    # It was found by the first file written, after the work (sweep: a temporary file's name;
    # dtypes compare: after quantizing every format).
    import tempfile

    from hwsim.files import output_folder

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    assert _err(output_folder, tmp_path / "out") == \
        f"--out {tmp_path / 'out'}: cannot write (Permission denied)"
    # A cache folder is only read when it cannot be written.
    assert output_folder(tmp_path / "cache", "--cache", written=False) == tmp_path / "cache"


def test_an_output_folder_is_checked_without_creating_it(tmp_path, monkeypatch):
    # For a command that validates at length first (a sweep planning millions of points).
    import os

    from hwsim.files import check_output_folder

    afile = tmp_path / "afile"
    afile.write_text("", encoding="utf-8")
    check_output_folder(tmp_path / "new" / "deeper")
    assert not (tmp_path / "new").exists()
    assert _err(check_output_folder, afile) == f"--out {afile}: exists and is not a folder"
    assert _err(check_output_folder, afile / "x") == f"--out {afile / 'x'}: {afile} is not a folder"
    monkeypatch.setattr(os, "access", lambda *args: False)
    assert _err(check_output_folder, tmp_path / "new") == \
        f"--out {tmp_path / 'new'}: cannot write (Permission denied)"
