"""The hosted form's words, in Finnish and English."""

from __future__ import annotations

LANGUAGES = ("fi", "en")

TEXTS: dict[str, dict[str, str]] = {
    "fi": {
        "title": "Tilaa taksi tai ota yhteyttä",
        "intro": "Täytä lomake, niin välittäjä vastaa sinulle mahdollisimman pian. "
                 "Kiireellisissä asioissa soita.",
        "name": "Nimi",
        "phone": "Puhelinnumero",
        "email": "Sähköposti",
        "contact_hint": "Anna puhelinnumero tai sähköposti, jotta voimme vastata.",
        "pickup_address": "Nouto-osoite",
        "destination": "Määränpää",
        "pickup_time": "Noutoaika",
        "pickup_time_hint": "Jätä tyhjäksi, jos tarvitset taksin heti.",
        "passengers": "Matkustajia",
        "message": "Viesti",
        "submit": "Lähetä",
        "errors_title": "Tarkista lomake",
        "thanks_title": "Kiitos, viestisi on vastaanotettu",
        "thanks_body": "Viitenumerosi on",
        "thanks_hint": "Mainitse viitenumero, jos otat meihin yhteyttä asiasta.",
        "new": "Lähetä uusi viesti",
        "announced_title": "Emme voi nyt ottaa viestejä vastaan",
        "announced_body": "Viestiäsi ei tallennettu.",
        "other_language": "In English",
        "required": "pakollinen",
        "err_required": "pakollinen tieto",
        "err_contact_required": "anna puhelinnumero tai sähköposti",
        "err_order_required": "kirjoita viesti tai anna nouto-osoite",
        "err_not_text": "ei ole tekstiä",
        "err_invalid_characters": "sisältää merkkejä, joita ei voi tallentaa",
        "err_too_long": "liian pitkä",
        "err_invalid_phone": "ei kelpaa puhelinnumeroksi",
        "err_invalid_email": "ei kelpaa sähköpostiosoitteeksi",
        "err_invalid_time": "anna päivämäärä ja kellonaika",
        "err_time_past": "aika on jo mennyt",
        "err_time_too_far": "liian kaukana tulevaisuudessa",
        "err_invalid_passengers": "anna luku 1–16",
        "err_invalid_token": "lomake on vanhentunut, lataa sivu uudelleen",
        "err_reused": "lomake on jo lähetetty toisin tiedoin, lataa sivu uudelleen",
        "err_unknown_field": "ei kuulu lomakkeeseen",
        "busy": "Palvelu on juuri nyt ruuhkautunut. Yritä hetken kuluttua uudelleen.",
        "busy_title": "Ruuhkaa",
        "too_many_title": "Liian monta tilausta",
        "too_many": "Yhteydestäsi on lähetetty juuri nyt liian monta tilausta. "
                    "Yritä hetken kuluttua uudelleen tai soita meille.",
        "busy_back": "Palaa selaimen Takaisin-painikkeella: vastauksesi ovat yhä lomakkeessa. "
                     "Kiireellisissä asioissa soita.",
    },
    "en": {
        "title": "Order a taxi or contact us",
        "intro": "Fill in the form and a dispatcher will answer as soon as possible. "
                 "For anything urgent, please call.",
        "name": "Name",
        "phone": "Phone number",
        "email": "Email",
        "contact_hint": "Give a phone number or an email address so that we can answer.",
        "pickup_address": "Pickup address",
        "destination": "Destination",
        "pickup_time": "Pickup time",
        "pickup_time_hint": "Leave empty if you need a taxi now.",
        "passengers": "Passengers",
        "message": "Message",
        "submit": "Send",
        "errors_title": "Please check the form",
        "thanks_title": "Thank you, your message has been received",
        "thanks_body": "Your reference is",
        "thanks_hint": "Please quote the reference if you contact us about this.",
        "new": "Send another message",
        "announced_title": "We cannot take messages right now",
        "announced_body": "Your message was not kept.",
        "other_language": "Suomeksi",
        "required": "required",
        "err_required": "required",
        "err_contact_required": "give a phone number or an email address",
        "err_order_required": "write a message or give a pickup address",
        "err_not_text": "not text",
        "err_invalid_characters": "contains characters that cannot be stored",
        "err_too_long": "too long",
        "err_invalid_phone": "not a valid phone number",
        "err_invalid_email": "not a valid email address",
        "err_invalid_time": "give a date and time",
        "err_time_past": "already past",
        "err_time_too_far": "too far ahead",
        "err_invalid_passengers": "give a number from 1 to 16",
        "err_invalid_token": "the form has expired, please reload the page",
        "err_reused": "this form was already sent with other answers, please reload the page",
        "err_unknown_field": "not part of this form",
        "busy": "The service is busy right now. Please try again in a moment.",
        "busy_title": "Busy",
        "too_many_title": "Too many orders",
        "too_many": "Too many orders have just been sent from your connection. "
                    "Please try again in a moment, or call us.",
        "busy_back": "Go back with your browser's Back button: your answers are still in the "
                     "form. For anything urgent, please call.",
    },
}


def pick_language(query_lang: str | None, accept_language: str, default: str) -> str:
    if query_lang in LANGUAGES:
        return query_lang
    for part in accept_language.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return default if default in LANGUAGES else "fi"
