"""QR codes of join commands, as SVG data URIs (qrcode's SVG output needs no Pillow).

An <img> with a data: URI keeps the page's Content-Security-Policy strict:
the SVG's own styling never runs inside the page.
"""

from __future__ import annotations

import base64
import functools
import io

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M


def qr_svg(text: str) -> bytes:
    """An SVG QR code of `text` (error correction M, 4-module quiet zone)."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4, box_size=10,
                         image_factory=qrcode.image.svg.SvgPathFillImage)
    code.add_data(text)
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image().save(out)
    return out.getvalue()


@functools.lru_cache(maxsize=64)
def qr_data_uri(text: str) -> str:
    """The QR code of `text` as a `data:image/svg+xml;base64,…` URI (cached: the overview shows the
    same address on every load, and making a code costs milliseconds of pure Python)."""
    return "data:image/svg+xml;base64," + base64.b64encode(qr_svg(text)).decode("ascii")
