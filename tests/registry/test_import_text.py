"""Import files as people save them: UTF-8, UTF-8 with BOM, GB18030/GBK (Excel on a Chinese
Windows), UTF-16; Chinese or English headers; the downloadable template; error codes."""

from __future__ import annotations

import codecs

import pytest

from mediaserver.registry.import_text import TextDecodeError, decode_text, template_csv
from mediaserver.registry.importer import ImportFormatError, parse, validate_rows

ZH_CSV = "编号,名称,分组,地址,推流,纬度,经度,标签\r\n" \
         "cam-1,朝阳区 东门,北京/朝阳区,rtsp://10.0.0.1/s,否,39.9,116.4,入口;室外\r\n"


def _zh_csv() -> str:
    return ZH_CSV  # 否 / 是 are booleans too


@pytest.mark.parametrize("encoded", [
    _zh_csv().encode("utf-8"),
    codecs.BOM_UTF8 + _zh_csv().encode("utf-8"),
    _zh_csv().encode("gbk"),
    _zh_csv().encode("gb18030"),
    _zh_csv().encode("utf-16"),
], ids=["utf-8", "utf-8-bom", "gbk", "gb18030", "utf-16"])
def test_chinese_csv_in_every_common_encoding_imports_the_same(encoded):
    valid, errors = validate_rows(parse(encoded, "csv"))
    assert errors == []
    [(_, source)] = valid
    assert (source.id, source.name, source.group) == ("cam-1", "朝阳区 东门", "北京/朝阳区")
    assert source.location.lat == 39.9 and source.tags == ("入口", "室外")


def test_gb18030_beyond_gbk_and_explicit_encoding():
    text = "id,name\r\nc1,𠀀 罕见字\r\n"  # U+20000 exists only in GB18030, not GBK
    [(_, source)], _ = validate_rows(parse(text.encode("gb18030"), "csv"))
    assert source.name == "𠀀 罕见字"
    assert decode_text("名称".encode("gbk"), "gbk") == "名称"
    with pytest.raises(TextDecodeError, match="unknown encoding"):
        decode_text(b"x", "latin-9")
    with pytest.raises(TextDecodeError, match="not utf-8"):
        decode_text("名称".encode("gbk"), "utf-8")


def test_undecodable_bytes_are_refused_with_the_offset_not_garbled():
    with pytest.raises(ImportFormatError, match=r"neither UTF-8 nor GB18030.*byte 3"):
        parse(b"id\n\xff\xff\xff\n", "csv")


def test_unknown_header_names_the_column():
    with pytest.raises(ImportFormatError, match="unknown: 备注"):
        parse("编号,备注\r\nc1,x\r\n".encode(), "csv")


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_template_imports_as_it_is(lang):
    body = template_csv(lang)
    assert body.startswith(codecs.BOM_UTF8)
    header = body.decode("utf-8-sig").splitlines()[0]
    assert header.startswith("编号,名称" if lang == "zh-CN" else "id,name")
    valid, errors = validate_rows(parse(body, "csv"))
    assert errors == [] and [s.group for _, s in valid] == ["北京/朝阳区", "北京/消防/一中队"]


def test_row_errors_carry_a_stable_code():
    body = ("编号,名称,分组,类型,推流\r\n"
            "坏 编号,x,a,camera,false\r\n"
            "ok1,x,a b,camera,false\r\n"
            "ok2,x,a,tank,false\r\n"
            "ok3,x,a,camera,maybe\r\n"
            "ok4,x,a,camera,false\r\n"
            "ok4,x,a,camera,false\r\n").encode("gbk")
    _, errors = validate_rows(parse(body, "csv"))
    assert [(e.row, e.field, e.code) for e in errors] == [
        (1, "id", "pattern"), (2, "group", "pattern"), (3, "kind", "choice"),
        (4, "publish", "boolean"), (6, "id", "duplicate_id")]
