"""Reference images are checked locally before anything is uploaded or spent."""

from __future__ import annotations

import base64

import pytest

from gptimg import errors
from gptimg.references import (
    MAX_REFERENCE_BYTES,
    check_reference,
    check_references,
    split_reference_list,
    upload_references,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 40
DATA_URI = "data:image/png;base64," + base64.b64encode(PNG).decode()


class RecordingUploader:
    def __init__(self) -> None:
        self.calls: list[tuple[bytes, str]] = []

    def __call__(self, data: bytes, media_type: str) -> str:
        self.calls.append((data, media_type))
        return f"https://files.test/u{len(self.calls)}.png"


def checked_then_uploaded(values: list[str], uploader: RecordingUploader, *, strict: bool = True) -> str:
    return upload_references(check_references(values, strict=strict), uploader)


@pytest.mark.parametrize("strict", [True, False])
def test_missing_local_file_fails_before_any_upload(tmp_path, strict):
    uploader = RecordingUploader()
    good = tmp_path / "good.png"
    good.write_bytes(PNG)

    with pytest.raises(errors.InvalidArguments) as caught:
        checked_then_uploaded([str(good), str(tmp_path / "missing.png")], uploader, strict=strict)

    assert "missing.png" in caught.value.message
    assert caught.value.exit_code == errors.EXIT_BAD_INPUT
    assert uploader.calls == [], "nothing may be uploaded while another reference is bad"


def test_png_named_file_that_is_not_an_image_is_refused(tmp_path):
    fake = tmp_path / "photo.png"
    fake.write_text("this is a text file, not a PNG")

    with pytest.raises(errors.InvalidArguments) as caught:
        check_reference(str(fake), strict=True)

    assert "not a PNG, JPEG, WebP or GIF" in caught.value.message


def test_empty_file_is_refused(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")

    with pytest.raises(errors.InvalidArguments):
        check_reference(str(empty), strict=True)


def test_file_over_8_mib_is_refused(tmp_path):
    big = tmp_path / "big.png"
    with open(big, "wb") as handle:
        handle.write(PNG)
        handle.truncate(MAX_REFERENCE_BYTES + 1)

    with pytest.raises(errors.InvalidArguments) as caught:
        check_reference(str(big), strict=True)

    assert "8 MiB" in caught.value.message


def test_file_of_exactly_8_mib_is_accepted(tmp_path):
    edge = tmp_path / "edge.png"
    with open(edge, "wb") as handle:
        handle.write(PNG)
        handle.truncate(MAX_REFERENCE_BYTES)

    assert check_reference(str(edge), strict=True).media_type == "image/png"


@pytest.mark.parametrize("url", ["ftp://files.test/a.png", "file:///etc/passwd", "s3://bucket/a.png"])
@pytest.mark.parametrize("strict", [True, False])
def test_non_http_url_is_refused(url, strict):
    with pytest.raises(errors.InvalidArguments):
        check_reference(url, strict=strict)


def test_http_url_with_a_comma_is_refused():
    with pytest.raises(errors.InvalidArguments):
        check_reference("https://cdn.test/a,b.png", strict=True)


def test_urls_and_file_ids_pass_through_without_upload():
    uploader = RecordingUploader()

    field = checked_then_uploaded(["https://cdn.test/a.png", "f_abc123"], uploader)

    assert field == "https://cdn.test/a.png,f_abc123"
    assert uploader.calls == []


def test_data_uri_is_decoded_sniffed_and_uploaded():
    uploader = RecordingUploader()

    field = checked_then_uploaded([DATA_URI], uploader)

    assert uploader.calls == [(PNG, "image/png")]
    assert field == "https://files.test/u1.png"


@pytest.mark.parametrize(
    "uri",
    [
        "data:image/png;base64,%%%not-base64%%%",
        "data:text/plain;base64," + base64.b64encode(b"hello").decode(),
        "data:image/png," + "raw",
        "data:image/png;base64," + base64.b64encode(b"not an image at all").decode(),
    ],
    ids=["bad-base64", "not-image-type", "not-base64", "bytes-not-image"],
)
def test_bad_data_uri_is_refused(uri):
    with pytest.raises(errors.InvalidArguments):
        check_reference(uri, strict=True)


def test_data_uri_declaring_the_wrong_image_type_is_uploaded_as_what_it_is():
    uploader = RecordingUploader()
    uri = "data:image/png;base64," + base64.b64encode(JPEG).decode()

    checked_then_uploaded([uri], uploader)

    assert uploader.calls[0][1] == "image/jpeg"


def test_comma_list_is_split_without_breaking_data_uris():
    raw = f" https://cdn.test/a.png, {DATA_URI} ,https://cdn.test/b.png,{DATA_URI},f_abc123 "

    parts = split_reference_list(raw)

    assert parts == ["https://cdn.test/a.png", DATA_URI, "https://cdn.test/b.png", DATA_URI, "f_abc123"]


def test_empty_items_in_a_list_are_dropped():
    assert split_reference_list("https://cdn.test/a.png,, ,https://cdn.test/b.png,") == [
        "https://cdn.test/a.png",
        "https://cdn.test/b.png",
    ]


def test_upload_references_replaces_local_files_by_returned_urls_in_order(tmp_path):
    first = tmp_path / "one.png"
    first.write_bytes(PNG)
    second = tmp_path / "two.jpg"
    second.write_bytes(JPEG)
    uploader = RecordingUploader()

    field = checked_then_uploaded([str(first), "https://cdn.test/keep.png", str(second)], uploader)

    assert field == "https://files.test/u1.png,https://cdn.test/keep.png,https://files.test/u2.png"
    assert uploader.calls == [(PNG, "image/png"), (JPEG, "image/jpeg")]
    assert str(tmp_path) not in field


def test_upload_returning_a_comma_is_refused(tmp_path):
    image = tmp_path / "one.png"
    image.write_bytes(PNG)

    with pytest.raises(errors.InvalidArguments):
        upload_references(check_references([str(image)], strict=True), lambda data, kind: "https://x.test/a,b")


def test_home_relative_path_is_expanded(isolated_home):
    (isolated_home / "ref.png").write_bytes(PNG)

    assert check_reference("~/ref.png", strict=True).data == PNG


def test_agent_mode_passes_unrecognised_plain_strings_through():
    assert check_reference("some-opaque-id", strict=False).locator == "some-opaque-id"
    with pytest.raises(errors.InvalidArguments):
        check_reference("some-opaque-id", strict=True)


def test_data_uri_followed_by_a_local_path_is_two_items():
    assert split_reference_list(f"{DATA_URI},./refs/b.png") == [DATA_URI, "./refs/b.png"]
