"""The text of an import file as people make it: the encoding (Excel on a Chinese Windows
saves CSV as GBK; elsewhere UTF-8, often with a BOM), column headers in Chinese or English,
and the template offered for download.

:func:`decode_text` takes an explicit encoding, or detects one: a byte-order mark (UTF-8,
UTF-16), else strict UTF-8, else GB18030 (the superset of GBK and GB2312). Bytes that are
neither give an error naming the offset, never a garbled import.
"""

from __future__ import annotations

import codecs
import csv
import io

#: accepted names for ``?encoding=`` → Python codec
ENCODINGS = {"utf-8": "utf-8-sig", "utf8": "utf-8-sig", "utf-8-sig": "utf-8-sig",
             "gb18030": "gb18030", "gbk": "gb18030", "gb2312": "gb18030",
             "utf-16": "utf-16"}

#: header cells (lower-cased, stripped) → column; English names map to themselves
HEADER_ALIASES = {
    "编号": "id", "id": "id", "设备编号": "id", "标识": "id",
    "名称": "name", "name": "name", "设备名称": "name", "显示名称": "name",
    "分组": "group", "group": "group", "组织": "group", "所属分组": "group",
    "类型": "kind", "kind": "kind", "设备类型": "kind",
    "地址": "url", "url": "url", "流地址": "url", "视频地址": "url", "rtsp地址": "url",
    "推流": "publish", "publish": "publish", "接入方式推流": "publish",
    "常开": "always_on", "always_on": "always_on", "始终在线": "always_on",
    "传输": "transport", "transport": "transport", "传输方式": "transport",
    "纬度": "lat", "lat": "lat", "经度": "lon", "lon": "lon",
    "标签": "tags", "tags": "tags",
}

TEMPLATE_HEADERS = {
    "en": ("id", "name", "group", "kind", "url", "publish", "always_on", "transport", "lat",
           "lon", "tags"),
    "zh-CN": ("编号", "名称", "分组", "类型", "地址", "推流", "常开", "传输", "纬度", "经度",
              "标签"),
}
TEMPLATE_ROWS = (
    ("cam-0001", "朝阳区 东门", "北京/朝阳区", "camera",
     "rtsp://user:password@192.0.2.10:554/stream1", "false", "false", "tcp", "39.9219",
     "116.4436", "入口;室外"),
    ("bodycam-07", "消防一中队 执法记录仪 7", "北京/消防/一中队", "bodycam", "", "true", "false",
     "", "", "", ""),
)


class TextDecodeError(ValueError):
    pass


def decode_text(body: bytes, encoding: str | None = None) -> str:
    """The body as text: in ``encoding`` when given (see :data:`ENCODINGS`), else detected."""
    if encoding:
        codec = ENCODINGS.get(encoding.strip().lower())
        if codec is None:
            raise TextDecodeError(f"unknown encoding {encoding!r} (use one of "
                                  f"{', '.join(sorted(set(ENCODINGS)))})")
        try:
            return body.decode(codec)
        except UnicodeDecodeError as exc:
            raise TextDecodeError(f"body is not {encoding} (byte {exc.start})") from None
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return body.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise TextDecodeError(f"body is not UTF-16 (byte {exc.start})") from None
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as utf8:
        try:
            return body.decode("gb18030")
        except UnicodeDecodeError:
            raise TextDecodeError(f"body is neither UTF-8 nor GB18030/GBK text (byte "
                                  f"{utf8.start}); save it as UTF-8 or pass ?encoding=")\
                from None


def column_of(header: str) -> str | None:
    """The column a header cell names (Chinese or English), None when unknown."""
    key = header.strip().lstrip("\ufeff").lower().replace(" ", "")
    return HEADER_ALIASES.get(key)


def template_csv(lang: str = "en") -> bytes:
    """The import template: UTF-8 with a BOM (so Excel shows Chinese right), headers in
    ``lang``, two example rows."""
    headers = TEMPLATE_HEADERS["zh-CN" if lang.lower().startswith("zh") else "en"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(TEMPLATE_ROWS)
    return codecs.BOM_UTF8 + buf.getvalue().encode("utf-8")
