"""The email parsing layer over a corpus of mails shaped as real clients send them: every
mail gives readable text or is rejected with a reason, and nothing but MailRejected ever
leaves parse_mail, however broken the bytes.

Corpus files named reject_*.eml must be refused; every other file must parse."""

from __future__ import annotations

import base64
import quopri
import random
import re
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from channels.email.html_text import html_to_text
from channels.email.loops import AutoKind, Bounce
from channels.email.mime import (
    Attachment,
    MailRejected,
    ParsedMail,
    SkippedAttachment,
    parse_mail,
)
from channels.email.quoting import reply_text
from hub.errors import BadInput

CORPUS = Path(__file__).parent / "email_corpus"
FILES = sorted(CORPUS.glob("*.eml"))
MOJIBAKE = re.compile("Ã.|Â.|â€|\ufffd")
TAG = re.compile(r"<\s*/?\s*[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?>")
LIMIT = 10 * 1024 * 1024


def parse(name: str, **options: Any) -> ParsedMail:
    return parse_mail((CORPUS / name).read_bytes(), **options)


def mail(headers: str, body: str = "Hei, taksi Kamppiin klo 10.", **options: Any) -> ParsedMail:
    raw = f"From: Matti <matti@example.fi>\r\n{headers}\r\n\r\n{body}".encode()
    return parse_mail(raw, **options)


def with_attachments(*parts: tuple[str, str, bytes]) -> bytes:
    """A multipart/mixed mail with a text part and (filename, content type, data) parts."""
    out = [b"From: matti@example.fi\r\nSubject: Liitteet\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
           b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nLiitteet alla.\r\n"]
    for name, kind, data in parts:
        out.append(f'--b\r\nContent-Type: {kind}\r\nContent-Disposition: attachment; '
                   f'filename="{name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n'.encode()
                   + base64.encodebytes(data))
    return b"".join([*out, b"--b--\r\n"])


# --- every file in the corpus ---------------------------------------------------------

def test_the_corpus_has_the_mails_it_promises() -> None:
    assert len(FILES) >= 16
    assert len([p for p in FILES if p.name.startswith("reject_")]) >= 3


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_each_corpus_mail_gives_readable_text_or_a_rejection_with_a_reason(path: Path) -> None:
    raw = path.read_bytes()
    if path.name.startswith("reject_"):
        with pytest.raises(MailRejected) as rejected:
            parse_mail(raw)
        assert rejected.value.reason
        assert rejected.value.__cause__ is None  # refused on purpose, not by a crash
        return

    parsed = parse_mail(raw)

    assert parsed.text.strip() or parsed.subject  # a subject alone can be the whole order
    assert not TAG.search(parsed.text), parsed.text
    assert not MOJIBAKE.search(f"{parsed.text} {parsed.subject} {parsed.from_name}")
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\r]", parsed.text)
    assert all(line == line.rstrip() for line in parsed.text.split("\n"))
    assert parsed.text == parsed.text.strip("\n")
    assert "@" in parsed.from_address and parsed.from_address == parsed.from_address.lower()
    assert all(address == address.lower() for address in parsed.to)
    assert parsed.message_id and "<" not in parsed.message_id
    assert parsed.date is not None and parsed.date.tzinfo is not None
    assert not parsed.text_truncated


def test_an_order_in_the_subject_alone_is_kept() -> None:
    parsed = parse("subject_only.eml")
    assert (parsed.subject, parsed.text) == ("Taksi", "")


def test_thunderbird_utf8_order_with_flowed_lines_joined() -> None:
    parsed = parse("plain_utf8_thunderbird.eml")

    assert parsed.subject == "Taksi lentoasemalle – tiistai 4.11. klo 5.30"
    assert parsed.from_name == "Matti Meikäläinen"
    assert parsed.from_address == "matti.meikalainen@example.fi"
    assert parsed.to == ("tilaus@taksi.example.fi",)
    assert parsed.message_id == "5c2d7a1e-8f3b-4b6e-9d1a-2f6c0e9b7a41@example.fi"
    assert parsed.date == datetime(2026, 11, 3, 6, 12, 40, tzinfo=UTC)
    assert ("tarvitsisin taksin huomenna tiistaina 4.11. klo 5.30 osoitteesta Mannerheimintie "
            "12 B 14, 00100 Helsinki, Helsinki-Vantaan lentoasemalle (terminaali 2).\n"
            ) in parsed.text
    assert parsed.text.endswith("Ystävällisin terveisin\nMatti Meikäläinen")
    assert (parsed.auto, parsed.bounce, parsed.attachments) == (None, None, ())


def test_outlook_iso_8859_1_quoted_printable() -> None:
    parsed = parse("latin1_qp_outlook.eml")

    assert parsed.subject == "Tilaus: invataksi sairaalakäynnille 4.11."
    assert parsed.from_name == "Virtanen, Liisa"
    assert "Määränpää: Jorvin sairaala, pääaula\n" in parsed.text
    assert "pyörätuolia eikä pääse portaita. Laskutus Kela-kyytinä." in parsed.text
    assert parsed.text.endswith("Kuljetuspalvelut, Åbo kaupunki")


def test_undeclared_8bit_windows_1252_body_and_headers() -> None:
    parsed = parse("cp1252_8bit_undeclared.eml")

    assert parsed.subject == "Kyyti Selloon ja takaisin – hinta?"
    assert parsed.from_name == "Pekka Mäkinen"
    assert "kauppakeskus “Sello”:n pääovelle" in parsed.text
    assert "n. 25 € suuntaansa" in parsed.text
    assert "Lähtö la 8.11. klo 11.00 – paluu noin klo 14.30." in parsed.text


def test_iso_8859_15_keeps_its_own_euro_sign() -> None:
    parsed = parse("iso8859_15_evolution.eml")

    assert parsed.from_name == "Sára Hyvönen"
    assert "Budjettimme on noin 180 €." in parsed.text
    assert "Šiva-koira" in parsed.text


def test_gmail_alternative_prefers_the_plain_part() -> None:
    parsed = parse("alternative_gmail.eml")

    assert parsed.text == (
        "Hei!\n\nVoisinko tilata taksin perjantaiksi 7.11. klo 22.45 ravintola Savoysta "
        "(Eteläesplanadi 14) Kallioon, Helsinginkatu 20? Meitä on neljä henkeä.\n\n"
        "Terveisin\nEmilia")
    assert parsed.attachments == parsed.skipped_attachments == ()


def test_html_only_web_form_becomes_safe_text() -> None:
    parsed = parse("html_only_webform.eml")

    assert parsed.subject == "Taksitilaus lomakkeelta #48213"
    assert parsed.from_name == "Hotelli Aurora – varaukset"
    assert parsed.reply_to == "anna.lindstrom@example.se"
    assert parsed.text.startswith("Uusi taksitilaus\n\nAsiakas: Anna Lindström\n"
                                  "Puhelin: +358 50 765 4321\n")
    assert "Nouto Hotelli Aurora, Pohjoisesplanadi 5\n" in parsed.text
    assert 'Lisätiedot: "Iso koira mukana" & 2 laukkua – farmariauto, kiitos.' in parsed.text
    assert "Avaa varaus (https://hotelliaurora.example.fi/varaus/48213)" in parsed.text
    assert parsed.text.count("varaukset@hotelliaurora.example.fi") == 1
    for hidden in ("Lomakeviesti", "seuranta", "tracking", "font-family", "lomake v2.3", "p.gif"):
        assert hidden not in parsed.text


def test_encoded_words_split_inside_a_character_and_in_mixed_charsets() -> None:
    parsed = parse("encoded_words_apple.eml")

    assert parsed.subject == "Tilaus: taksi Seinäjoelle ja takaisin – pyydän hinta-arviota"
    assert parsed.from_name == "Jörgen Åström"
    assert parsed.to == ("tilaus@taksi.example.fi", "asa.nygard@example.fi")
    assert "Seinäjoen asemalta Ähtäriin ja takaisin lauantaina 8.11." in parsed.text


def test_encoded_words_in_the_wrong_charset_and_raw_utf8_headers() -> None:
    parsed = parse("wrong_charsets_android.eml")

    assert parsed.subject == "Kyyti päiväkotiin ja kotiin – ”pikaisesti”"
    assert parsed.from_name == "Ville Hämäläinen"
    assert "taksin päiväkotiin Myyrmäkeen klo 7.45" in parsed.text


def test_iphone_inline_image_and_pdf_and_text_parts_joined() -> None:
    parsed = parse("attachments_iphone.eml")

    assert [(a.filename, a.content_type, a.size) for a in parsed.attachments] == [
        ("IMG_0042.jpeg", "image/jpeg", 117),
        ("kuitti_yökyyti_4.11.pdf", "application/pdf", 216),
    ]
    image, pdf = parsed.attachments
    assert image.data.startswith(b"\xff\xd8") and pdf.data.startswith(b"%PDF-1.4")
    assert unicodedata.is_normalized("NFC", pdf.filename)  # the iPhone sent it decomposed
    assert "Kuva laukusta alla:\n\nKuitti liitteenä. Laukku on musta" in parsed.text


def test_executable_is_refused_and_octet_stream_pdf_is_typed_by_its_name() -> None:
    parsed = parse("attachment_exe_outlook.eml")

    assert [(a.filename, a.content_type, a.size) for a in parsed.attachments] == [
        ("hinnasto_2026.pdf", "application/pdf", 216)]
    assert parsed.skipped_attachments == (
        SkippedAttachment(name="ajo-ohje.exe", content_type="application/x-msdownload",
                          size=68, reason="type_not_allowed"),)
    assert "liitteenä ensi vuoden hinnasto" in parsed.text


def test_gmail_reply_threads_and_its_finnish_quote_is_cut() -> None:
    parsed = parse("reply_gmail_finnish.eml")

    assert parsed.subject == "Re: [#10094] Tilausvahvistus: taksi lentoasemalle"
    assert parsed.in_reply_to == "req-7f3e2a10-5b1c-4d8e-9a6f-1c2b3d4e5f60.42@hub.taksi.example.fi"
    assert parsed.references == (
        "req-7f3e2a10-5b1c-4d8e-9a6f-1c2b3d4e5f60.41@hub.taksi.example.fi",
        "req-7f3e2a10-5b1c-4d8e-9a6f-1c2b3d4e5f60.42@hub.taksi.example.fi")
    assert parsed.to == ("reply+3f9c2e1a7b@taksi.example.fi",)
    assert "> Määränpää: Helsinki-Vantaa, T2" in parsed.text  # the full text is kept
    assert reply_text(parsed.text) == (
        "Kiitos vahvistuksesta! Voisiko kuljettaja soittaa, kun on perillä? Ovikoodi on 1234.")


def test_outlook_reply_with_original_message_separator() -> None:
    parsed = parse("reply_outlook_original_message.eml")

    assert parsed.from_address == "john.smith@hotel.example.com"
    assert parsed.to == ("tilaus@taksi.example.fi", "frontdesk@hotel.example.com")
    assert parsed.references == ("req-0b6c1d2e-3f4a-4b5c-8d9e-0f1a2b3c4d5e.7@hub.taksi.example.fi",)
    assert reply_text(parsed.text) == (
        "Hi,\n\nCould you please move the pickup to 14:45? The guest's flight was delayed.\n\n"
        "Thanks,\nJohn")


def test_outlook_web_html_reply_with_finnish_header_block() -> None:
    parsed = parse("reply_outlook_web_finnish.eml")

    assert parsed.subject == "VS: [#10110] Tilausvahvistus"
    assert "Lähetetty: maanantai 3. marraskuuta 2026 11.02\n" in parsed.text
    assert reply_text(parsed.text) == "Sopii hyvin, kiitos! Asiakas odottaa aulassa."


def test_finnish_out_of_office_is_an_auto_reply() -> None:
    parsed = parse("autoreply_finnish_ooo.eml")

    assert parsed.auto is AutoKind.AUTO_REPLIED
    assert parsed.subject == "Automaattinen vastaus: [#10094] Tilausvahvistus"
    assert "olen lomalla 3.–14.11.2026 enkä lue sähköpostia." in parsed.text
    assert parsed.bounce is None


def test_mailing_list_post_with_its_footer_part() -> None:
    parsed = parse("mailing_list_mailman.eml")

    assert parsed.auto is AutoKind.LIST
    assert "ruuhkaa.\n\nJukka\n\n_____" in parsed.text
    assert parsed.text.endswith("taksiyrittajat-leave@lists.example.fi")


def test_newsletter_is_bulk() -> None:
    parsed = parse("newsletter_bulk.eml")

    assert parsed.auto is AutoKind.BULK
    assert parsed.subject == "Marraskuun tiedote: diesel halpenee ⛽"


def test_postfix_delivery_status_notification() -> None:
    parsed = parse("bounce_dsn_postfix.eml")

    assert parsed.bounce == Bounce(
        original_message_id="req-7f3e2a10-5b1c-4d8e-9a6f-1c2b3d4e5f60.41@hub.taksi.example.fi",
        recipient="matti.meikalainen@exmaple.fi", status="5.1.1",
        diagnostic="550 5.1.1 <matti.meikalainen@exmaple.fi>: Recipient address rejected: "
                   "User unknown in virtual mailbox table")
    assert parsed.auto is AutoKind.AUTO_GENERATED  # though Postfix says auto-replied
    assert parsed.from_address == "mailer-daemon@mx.taksi.example.fi"
    assert [s.content_type for s in parsed.skipped_attachments] == [
        "message/delivery-status", "text/rfc822-headers"]


def test_a_delay_warning_is_automatic_but_not_a_bounce() -> None:
    raw = (CORPUS / "bounce_dsn_postfix.eml").read_bytes() \
        .replace(b"Action: failed", b"Action: delayed").replace(b"Status: 5.1.1", b"Status: 4.4.1")

    parsed = parse_mail(raw)

    assert parsed.bounce is None
    assert parsed.auto is AutoKind.AUTO_GENERATED


def test_postmaster_bounce_with_the_original_attached() -> None:
    parsed = parse("bounce_postmaster_attached.eml")

    assert parsed.bounce == Bounce(
        original_message_id="req-9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d.2@hub.taksi.example.fi",
        recipient=None, status="5.2.2", diagnostic=None)
    assert parsed.auto is AutoKind.AUTO_GENERATED
    assert "postilaatikko on täynnä" in parsed.text


def test_exim_bounce_with_the_original_quoted_inline() -> None:
    parsed = parse("bounce_exim_inline.eml")

    assert parsed.bounce is not None
    assert parsed.bounce.original_message_id == (
        "req-1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f.9@hub.taksi.example.fi")
    assert parsed.auto is AutoKind.AUTO_GENERATED


def test_broken_mime_bogus_charset_bad_padding_no_closing_boundary() -> None:
    parsed = parse("broken_mime_webmail.eml")

    assert parsed.text == ("Tarvitsen kyydin huomenna klo 7.00 Hervannasta Tampere-talolle.\n"
                           "Pyörätuoli mukana, kuljettajan apu tarpeen.")
    assert parsed.attachments == (Attachment(
        filename="lisätiedot.txt", content_type="text/plain", size=57,
        data="Lisätietoja: portin koodi 4321, soita kun olet pihassa.\n".encode()),)


def test_multipart_without_a_boundary_parameter_is_split_anyway() -> None:
    assert parse("broken_no_boundary.eml").text == (
        "Tarvitsen taksin Tikkurilan asemalle tänään klo 16.")


def test_mail_forwarded_as_an_attachment_alone_shows_the_forwarded_text() -> None:
    parsed = parse("forward_as_attachment.eml")

    assert parsed.text == ("Guest Ms Kaur needs a transfer from the hotel to Helsinki-Vantaa "
                           "on 6 November at 05:10.")
    assert [s.content_type for s in parsed.skipped_attachments] == ["message/rfc822"]


def test_nul_bytes_are_dropped_from_the_text() -> None:
    assert parse("nul_in_body.eml").text == (
        "Hei, tarvitsen taksin Pasilan asemalta Ruskeasuolle klo 17.\nOlli")


@pytest.mark.parametrize(("raw", "reason"), [
    ((CORPUS / "reject_no_from.eml").read_bytes(), "no sender"),
    (b"From: a@example.fi\r\nSubject:  \r\n\r\n\r\n", "no subject, no readable text"),
    ((CORPUS / "reject_binary_garbage.eml").read_bytes(), "not an email message"),
    (b"", "empty"),
    (b"\r\n\r\n  \r\n", "empty"),
    (b"From: Matti Meikalainen\r\nSubject: x\r\n\r\nHei", "no sender"),
    (b"From: a@example.fi\r\n\r\n" + b"--x\r\n" * 2001, "too many MIME parts"),
    (with_attachments(("ajo.exe", "application/x-msdownload", b"MZ"))
     .replace(b"Liitteet alla.", b"").replace(b"Subject: Liitteet\r\n", b""),
     "refused: ajo.exe (type_not_allowed)"),
], ids=["no-from", "no-subject-no-text", "binary", "empty", "blank", "unparseable-from",
        "part-flood", "only-a-refused-attachment"])
def test_unusable_mail_is_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(MailRejected) as rejected:
        parse_mail(raw)

    assert reason in rejected.value.reason
    assert isinstance(rejected.value, BadInput)


FINNISH = "Hyvää päivää, Åke Öhman! Ääkköset: äöå ÄÖÅ."


@pytest.mark.parametrize("declared", ["iso-8859-1", "ISO-8859-15", "windows-1252", "utf-8",
                                      None])
@pytest.mark.parametrize("encoding", ["8bit", "quoted-printable", "base64"])
def test_finnish_letters_survive_every_charset_and_transfer_encoding(
        declared: str | None, encoding: str) -> None:
    data = FINNISH.encode(declared or "cp1252")
    body = {"8bit": data, "base64": base64.encodebytes(data),
            "quoted-printable": quopri.encodestring(data)}[encoding]
    charset = f"; charset={declared}" if declared else ""
    raw = (f"From: a@example.fi\r\nContent-Type: text/plain{charset}\r\n"
           f"Content-Transfer-Encoding: {encoding}\r\n\r\n").encode() + body

    assert parse_mail(raw).text == FINNISH


def test_undeclared_8bit_utf8_is_read_as_utf8() -> None:
    raw = b"From: a@example.fi\r\n\r\n" + FINNISH.encode()

    assert parse_mail(raw).text == FINNISH


# --- limits and attachments ------------------------------------------------------------

def test_attachment_over_the_size_limit_is_skipped_one_at_the_limit_is_kept() -> None:
    raw = with_attachments(("ok.pdf", "application/pdf", b"%PDF" + bytes(LIMIT - 4)),
                           ("big.pdf", "application/pdf", b"%PDF" + bytes(LIMIT - 3)))

    parsed = parse_mail(raw)

    assert [(a.filename, a.size) for a in parsed.attachments] == [("ok.pdf", LIMIT)]
    assert parsed.skipped_attachments == (SkippedAttachment(
        name="big.pdf", content_type="application/pdf", size=LIMIT + 1, reason="too_large"),)


def test_attachments_beyond_the_count_limit_are_skipped_as_too_many() -> None:
    raw = with_attachments(*[(f"kuva{n}.png", "image/png", b"\x89PNG" + bytes([n]))
                             for n in range(5)])

    parsed = parse_mail(raw, max_attachments=3)

    assert [a.filename for a in parsed.attachments] == ["kuva0.png", "kuva1.png", "kuva2.png"]
    assert [(s.name, s.reason) for s in parsed.skipped_attachments] == [
        ("kuva3.png", "too_many"), ("kuva4.png", "too_many")]


def test_allowed_types_can_be_narrowed() -> None:
    raw = with_attachments(("kuva.png", "image/png", b"\x89PNG"),
                           ("kuitti.pdf", "application/pdf", b"%PDF"))

    parsed = parse_mail(raw, allowed_attachment_types=frozenset({"application/pdf"}))

    assert [a.filename for a in parsed.attachments] == ["kuitti.pdf"]
    assert [(s.name, s.reason) for s in parsed.skipped_attachments] == [
        ("kuva.png", "type_not_allowed")]


@pytest.mark.parametrize(("sent", "kept"), [
    ("C:\\Users\\matti\\Desktop\\kuitti.pdf", "kuitti.pdf"),
    ("../../etc/kuitti.pdf", "kuitti.pdf"),
    ("kuitti\u202egnp.pdf", "kuittignp.pdf"),  # a right-to-left override hides the extension
    ("kui\ttti\x07.pdf", "kuitti.pdf"),
    ("..kuitti.pdf", "kuitti.pdf"),
    ("", "attachment"),
    ("=?utf-8?Q?p=C3=A4iv=C3=A4.pdf?=", "päivä.pdf"),
    ("a" * 250 + ".pdf", "a" * 196 + ".pdf"),
])
def test_attachment_names_are_sanitised(sent: str, kept: str) -> None:
    parsed = parse_mail(with_attachments((sent, "application/pdf", b"%PDF")))

    assert parsed.attachments[0].filename == kept


def test_a_disguised_executable_is_refused_whatever_its_declared_type() -> None:
    parsed = parse_mail(with_attachments(("kuva.png.exe", "image/png", b"MZ")))

    assert parsed.attachments == ()
    assert parsed.skipped_attachments[0].reason == "type_not_allowed"


def test_long_text_is_truncated_and_flagged() -> None:
    parsed = mail("Subject: pitkä", "Hei! " * 100, max_text_chars=50)

    assert parsed.text_truncated
    assert parsed.text == ("Hei! " * 10).rstrip()


# --- headers ---------------------------------------------------------------------------

@pytest.mark.parametrize(("headers", "kind"), [
    ("Auto-Submitted: auto-generated", AutoKind.AUTO_GENERATED),
    ("Auto-Submitted: auto-replied; owner-email=matti@example.fi", AutoKind.AUTO_REPLIED),
    ("Auto-Submitted: vacation", AutoKind.AUTO_REPLIED),
    ("Auto-Submitted: no", None),
    ("X-Autoreply: yes", AutoKind.AUTO_REPLIED),
    ("X-Autorespond: Olen lomalla", AutoKind.AUTO_REPLIED),
    ("X-Auto-Response-Suppress: OOF, AutoReply", AutoKind.AUTO_GENERATED),
    ("X-Auto-Response-Suppress: DR, RN, NRN", None),
    ("Precedence: bulk", AutoKind.BULK),
    ("Precedence: junk", AutoKind.BULK),
    ("Precedence: list", AutoKind.LIST),
    ("List-Id: <kuljettajat.lists.example.fi>\r\nPrecedence: bulk", AutoKind.LIST),
    ("List-Unsubscribe: <mailto:leave@news.example.com>", AutoKind.BULK),
    ("Return-Path: <>", AutoKind.AUTO_GENERATED),
    ("Return-Path: <matti@example.fi>", None),
    ("X-Loop: yes", AutoKind.AUTO_GENERATED),
    ("X-Loop: jotain-muuta@example.fi", None),
    ("Content-Type: multipart/report; report-type=disposition-notification; boundary=r",
     AutoKind.AUTO_GENERATED),
    ("Subject: tavallinen viesti", None),
])
def test_auto_kind_from_headers(headers: str, kind: AutoKind | None) -> None:
    body = "--r\r\nContent-Type: text/plain\r\n\r\nLuettu.\r\n--r--" if "boundary=r" in headers \
        else "Hei"
    assert mail(headers, body).auto is kind


def test_our_own_loop_marker_means_a_loop() -> None:
    headers = "X-Loop: TaxiConnect  tilaus@Taksi.example.fi\r\nAuto-Submitted: auto-replied"

    assert mail(headers, loop_marker="TaxiConnect tilaus@taksi.example.fi").auto is AutoKind.LOOP
    assert mail(headers, loop_marker="other@example.fi").auto is AutoKind.AUTO_REPLIED


def test_mail_from_a_noreply_address_is_auto_generated() -> None:
    raw = b"From: Kauppa <no-reply@kauppa.example.com>\r\n\r\nTilauksesi on vastaanotettu."

    assert parse_mail(raw).auto is AutoKind.AUTO_GENERATED


def test_message_ids_keep_their_case_and_lose_brackets_and_space() -> None:
    parsed = mail("Message-ID:  < AbC.123@Example.FI >\r\nIn-Reply-To: <X1@a.fi> (Matin viesti)"
                  "\r\nReferences: <X0@a.fi>,\r\n\t<X1@a.fi> <X0@a.fi>")

    assert parsed.message_id == "AbC.123@Example.FI"
    assert parsed.in_reply_to == "X1@a.fi"
    assert parsed.references == ("X0@a.fi", "X1@a.fi")


def test_unbracketed_and_missing_message_ids() -> None:
    assert mail("Message-ID: abc@example.fi").message_id == "abc@example.fi"
    assert mail("Subject: ei tunnistetta").message_id is None
    assert mail("References: vanha@example.fi uusi@example.fi").references == (
        "vanha@example.fi", "uusi@example.fi")


@pytest.mark.parametrize(("value", "expected"), [
    ("Mon, 3 Nov 2026 10:12:00 +0200", datetime(2026, 11, 3, 8, 12, tzinfo=UTC)),
    ("Mon, 3 Nov 2026 10:12:00 -0000", datetime(2026, 11, 3, 10, 12, tzinfo=UTC)),
    ("eilen illalla", None),
    ("Mon, 31 Feb 2026 10:12:00 +0200", None),
])
def test_dates_are_aware_or_none(value: str, expected: datetime | None) -> None:
    assert mail(f"Date: {value}").date == expected


@pytest.mark.parametrize(("subject", "decoded"), [
    ("=?utf-8?q?Hyv=C3=A4=C3=A4_p=C3=A4iv=C3=A4=C3=A4?=", "Hyvää päivää"),
    ("=?unknown-8bit?B?SHl25OQ=?=", "Hyvää"),  # Latin-1 under an unknown label
    ("=?utf-8?B?SHl2w6TDpA?=", "Hyvää"),  # base64 missing its padding
    ("Re: =?utf-8?B?!!!?= ok", "Re: ok"),
    ("=?utf-8?Q?a?= =?utf-8?Q?b?=   c", "ab c"),
    ("Taksi  \t klo\r\n 10", "Taksi klo 10"),
])
def test_subject_encoded_words_decode_leniently(subject: str, decoded: str) -> None:
    assert mail(f"Subject: {subject}").subject == decoded


def test_from_without_angle_brackets_is_read_loosely() -> None:
    assert mail("", "Hei").from_address == "matti@example.fi"
    raw = b"From: Matti Meikalainen matti@example.fi\r\n\r\nHei"

    assert parse_mail(raw).from_address == "matti@example.fi"


# --- html_to_text ----------------------------------------------------------------------

def test_html_blocks_become_lines_and_entities_are_decoded() -> None:
    html = ("<html><head><title>Otsikko</title><style>p{color:red}</style></head><body>"
            "<p>Hei&nbsp;Matti,</p><p>Tilaus <b>vahvistettu</b>.<br>Aika: 10.30</p>"
            "<ul><li>Yksi</li><li>Kaksi</li></ul><table><tr><td>Nouto</td><td>Kamppi</td></tr>"
            "</table><p>A &amp; B &lt; C &#8211; &euro;</p></body></html>")

    assert html_to_text(html) == ("Hei Matti,\n\nTilaus vahvistettu.\nAika: 10.30\n\n- Yksi\n"
                                  "- Kaksi\n\nNouto Kamppi\n\nA & B < C – €")


def test_html_links_keep_their_text_and_show_a_differing_url() -> None:
    html = ('<a href="https://taksi.example.fi/peru/1">Peru tilaus</a> '
            '<a href="https://taksi.example.fi/">taksi.example.fi</a> '
            '<a href="mailto:tilaus@taksi.example.fi">tilaus@taksi.example.fi</a> '
            '<a href="javascript:alert(1)">Klikkaa</a> '
            '<a href="https://x.example/<script>">Linkki</a> '
            '<a href="TEL:+358401234567">soita</a> '
            '<a href="https://taksi.example.fi/kuva"><img src="x.png" alt=""></a>')

    assert html_to_text(html) == ("Peru tilaus (https://taksi.example.fi/peru/1) "
                                  "taksi.example.fi tilaus@taksi.example.fi Klikkaa Linkki "
                                  "soita (+358401234567) https://taksi.example.fi/kuva")


@pytest.mark.parametrize("html", [
    "<script>document.write('<b>x</b>')</script>näkyy",
    "<scr<script>ipt>alert(1)</script>näkyy",
    "<img src=x onerror=alert(1)>näkyy<!-- <b>piilo</b> -->",
    "<![foo[ näkyy ]]><![CDATA[näkyy]]>",
    "<head><title>piilo</title><body>näkyy",
    "<p>näkyy<div><span>näkyy</p></div>",
    "<a href='https://x.example'>näkyy",
    "<!DOCTYPE html><html><body><![if !supportLists]>- <![endif]>näkyy</body>",
])
def test_no_markup_survives_broken_or_hostile_html(html: str) -> None:
    text = html_to_text(html)

    assert "näkyy" in text
    assert not TAG.search(text) and "piilo" not in text


# --- reply_text ------------------------------------------------------------------------

ANSWER = "Kiitos, sopii hyvin!"


@pytest.mark.parametrize("quote", [
    "ma 3.11.2026 klo 10.12 Matti Meikäläinen <matti@example.fi> kirjoitti:\n\n> Hei\n> moi",
    "ma 3.11.2026 klo 10.12 Matti Meikäläinen <\nmatti@example.fi> kirjoitti:\n> Hei",
    "3.11.2026 kello 10.12, Matti Meikäläinen <matti@example.fi> kirjoitti:\n\n> Hei",
    "Matti Meikäläinen kirjoitti 3.11.2026 klo 10.12:\n> Hei",
    "On Mon, 3 Nov 2026 at 10:12, Matti <matti@example.fi> wrote:\n\n> Hello",
    "On Mon, Nov 3, 2026 at 10:12 AM TaxiConnect\n<tilaus@taksi.example.fi> wrote:\n> Hello",
    "Am Mo., 3. Nov. 2026 um 10:12 Uhr schrieb Matti <matti@example.fi>:\n> Hallo",
    "Den mån 3 nov. 2026 kl 10:12 skrev Matti <matti@example.fi>:\n> Hej",
    "-----Original Message-----\nFrom: TaxiConnect\nSent: Monday\n\nYour taxi",
    "-----Alkuperäinen viesti-----\nLähettäjä: TaxiConnect\nLähetetty: 3.11.\n\nTaksi",
    "________________________________\nLähettäjä: TaxiConnect <tilaus@taksi.example.fi>\n"
    "Lähetetty: maanantai 3. marraskuuta 2026 11.02\nVastaanottaja: Matti\nAihe: Tilaus\n\nx",
    "From: TaxiConnect <tilaus@taksi.example.fi>\nDate: Monday, 3 November 2026 at 11.02\n"
    "To: Matti\nSubject: Tilaus\n\nx",
    "> Hei Matti,\n> taksi on tilattu.\n>",
])
def test_reply_text_cuts_the_quoted_message(quote: str) -> None:
    assert reply_text(f"{ANSWER}\n\n{quote}\n") == ANSWER


def test_reply_text_drops_a_mobile_footer_above_the_quote() -> None:
    text = f"{ANSWER}\n\nLähetetty iPhonesta\n\n> Hei\n"

    assert reply_text(text) == ANSWER


def test_reply_text_keeps_a_line_just_above_an_attribution() -> None:
    text = f"{ANSWER}\nma 3.11.2026 klo 10.12 Matti <matti@example.fi> kirjoitti:\n> Hei"

    assert reply_text(text) == ANSWER


@pytest.mark.parametrize("text", [
    "Hei,\n\nFrom: Kamppi, Fredrikinkatu 48\nTo: lentoasema T2\nDate: 4.11. klo 5.30\n",
    "> Hei Matti,\n> taksi on tilattu.\n",
    "ma 3.11.2026 klo 10.12 Matti <matti@example.fi> kirjoitti:\n> Hei\n",
    "-----Original Message-----\nFrom: x\nSent: y\n",
    "> Milloin?\nHuomenna klo 10.\n> Mihin?\nKamppiin.",
    "Taksi Kamppiin klo 10, kiitos.\n",
])
def test_reply_text_returns_the_original_when_there_is_nothing_else(text: str) -> None:
    assert reply_text(text) == text


# --- never anything but MailRejected ---------------------------------------------------

def _mutations(count: int, seed: int) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    sources = [(path.name, path.read_bytes()) for path in FILES]
    variants: list[tuple[str, bytes]] = []
    for n in range(count):
        name, raw = sources[n % len(sources)]
        if n % 2 == 0:
            cut = rng.randrange(len(raw))
            variants.append((f"{name} cut at {cut}", raw[:cut]))
        else:
            data = bytearray(raw)
            spots = [rng.randrange(len(data)) for _ in range(rng.randint(1, 16))]
            for spot in spots:
                data[spot] = rng.randrange(256)
            variants.append((f"{name} bytes changed at {spots}", bytes(data)))
    return variants


def test_mutated_corpus_mail_is_parsed_or_rejected_never_crashes() -> None:
    parsed = rejected = 0
    for what, raw in _mutations(200, seed=20261103):
        try:
            result = parse_mail(raw)
        except MailRejected as exc:
            # A deliberate refusal, not the safety net catching a parser crash.
            assert exc.__cause__ is None, f"{what}: {exc.__cause__!r}"
            rejected += 1
            continue
        assert isinstance(result, ParsedMail), what
        assert not re.search("[\x00\ud800-\udfff]", result.text + result.subject), what
        parsed += 1
    assert parsed > 100 and rejected > 0
