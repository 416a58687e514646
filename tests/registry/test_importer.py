"""Import parsing: CSV / JSON / NDJSON into records and numbered row errors; the CLI's
argument wiring and chunking."""

from __future__ import annotations

import argparse
import json

import pytest

from mediaserver import sources_cli
from mediaserver.registry.importer import (
    ImportFormatError,
    detect_format,
    parse,
    validate_rows,
)


def test_csv_rows_become_records_with_numbered_errors():
    body = ("\ufeffid,name,group,kind,url,publish,always_on,transport,lat,lon,tags\n"
            'cam-1,"Gate, north",a/b,camera,rtsp://h/1,no,YES,udp,1.5,2.5, x ; y ;\n'
            "\n"
            "cam-2,,a,bodycam,,true,false,,,,\n"
            "cam-3,x,a,camera,,false,false,,1,,\n"
            "cam-4,x,a,camera,,false,false,,,,,extra\n").encode()
    rows = parse(body, "csv")
    valid, errors = validate_rows(rows, allowed_schemes=("rtsp",))
    assert [s.id for _, s in valid] == ["cam-1", "cam-2"]
    first = valid[0][1]
    assert first.name == "Gate, north" and first.always_on and not first.publish
    assert first.transport == "udp" and first.tags == ("x", "y")
    assert (first.location.lat, first.location.lon) == (1.5, 2.5)
    assert valid[1][1].kind == "bodycam" and valid[1][1].publish
    assert [(e.row, e.line, e.id, e.field) for e in errors] == [
        (3, 5, "cam-3", "location.lon"), (4, 6, "cam-4", None)]


def test_csv_header_is_required_and_checked():
    with pytest.raises(ImportFormatError, match="unknown: colour"):
        parse(b"id,colour\nx,red\n", "csv")
    with pytest.raises(ImportFormatError, match="empty"):
        parse(b"", "csv")
    # found while fuzzing: the csv module's own error escaped (a 500 instead of a 400)
    with pytest.raises(ImportFormatError, match="malformed CSV: field larger than field limit"):
        parse(b'id,name\nx,"' + b"n" * 140_000 + b'"\n', "csv")


def test_json_forms_and_ndjson_lines():
    for body in (b'[{"id": "a"}, {"id": "b", "kind": "drone"}]',
                 b'{"sources": [{"id": "a"}, {"id": "b", "kind": "drone"}]}'):
        valid, errors = validate_rows(parse(body, "json"))
        assert [s.id for _, s in valid] == ["a", "b"] and errors == []
    valid, errors = validate_rows(parse(b'[{"id": "a"}, 7, {"id": "a"}]', "json"))
    assert [(e.row, e.field, e.message) for e in errors] == [
        (2, "(record)", "must be an object"), (3, "id", "duplicate id in this import")]
    with pytest.raises(ImportFormatError):
        parse(b'{"id": "a"}', "json")
    with pytest.raises(ImportFormatError, match="UTF-8"):
        parse(b'[{"id": "\xff"}]', "json")
    valid, errors = validate_rows(parse(b'{"id": "a"}\n\n{oops\n{"id": "b"}\n', "ndjson"))
    assert [s.id for _, s in valid] == ["a", "b"]
    assert [(e.row, e.line) for e in errors] == [(2, 3)]


def test_deeply_nested_json_is_a_format_error_not_a_recursion_error():
    # found by fuzzing: json.loads raises RecursionError, which escaped as a 500
    with pytest.raises(ImportFormatError, match="invalid JSON"):
        parse(b"[" * 5000, "json")
    valid, errors = validate_rows(parse(b'{"id": "a"}\n' + b'{"x":' * 5000 + b"\n", "ndjson"))
    assert [s.id for _, s in valid] == ["a"]
    assert [(e.row, e.line) for e in errors] == [(2, 2)]
    assert errors[0].message.startswith("invalid JSON")


def test_format_detection():
    assert detect_format("text/csv; charset=utf-8", b"") == "csv"
    assert detect_format("application/json", b"") == "json"
    assert detect_format("application/x-ndjson", b"") == "ndjson"
    assert detect_format(None, b"  [1]") == "json"
    assert detect_format(None, b'{"id": 1}\n{"id": 2}') == "ndjson"
    assert detect_format("", b"id,name\n") == "csv"
    with pytest.raises(ImportFormatError):
        detect_format("image/png", b"")


def test_cli_parser_and_chunking():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    sources_cli.add_parser(sub)
    args = parser.parse_args(["sources", "import", "f.csv", "--url", "http://h:1", "--token",
                              "t", "--mode", "create", "--chunk-rows", "5"])
    assert (args.sources_command, args.path, args.url, args.token, args.mode,
            args.chunk_rows) == ("import", "f.csv", "http://h:1", "t", "create", 5)
    assert args.func is sources_cli.run_import

    body = b"id,name\n" + b"".join(b"c%d,\"multi\nline\"\n" % i for i in range(7))
    chunks = sources_cli._chunks(body, "csv", 3)
    assert len(chunks) == 3
    assert [lines for _, lines in chunks] == [[3, 5, 7], [9, 11, 13], [15]]
    assert all(c.startswith(b"id,name\n") for c, _ in chunks)
    assert len(parse(chunks[0][0], "csv")) == 3
    chunks = sources_cli._chunks(json.dumps({"sources": [{"id": i} for i in range(5)]})
                                 .encode(), "json", 2)
    assert [len(json.loads(c)) for c, _ in chunks] == [2, 2, 1]
