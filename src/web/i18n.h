/*
 * i18n: translated text for any language, chosen per request.
 *
 * Catalogues are GNU gettext .mo files (po/<lang>.po compiled by msgfmt into
 * build/locale/<lang>/commonground.mo). They are read in-process at start-up into a
 * read-only table rather than through glibc's gettext, because glibc's language is a
 * process-global (setlocale/LANGUAGE) while the server answers one request in English
 * and the next in Welsh at the same instant on different threads. The .mo reader
 * checks magic, byte order and every offset against the file size.
 *
 * English is the source language: "en" needs no catalogue and is always supported.
 *
 * Lifetime and threads: i18n_load() is called once before serving (not thread-safe);
 * afterwards all lookups are read-only and may run on any thread. Strings returned
 * stay valid until i18n_free().
 */
#ifndef CG_WEB_I18N_H
#define CG_WEB_I18N_H

#include <stddef.h>

/* Translates s into lang; the C source marker that xgettext extracts (keyword T:2). */
#define T(lang, s) i18n_gettext((lang), (s))
/* Plural form (xgettext keyword NT:2,3). */
#define NT(lang, s, p, n) i18n_ngettext((lang), (s), (p), (n))
/* Marks a string for extraction where it is translated later (tables of labels);
 * xgettext keyword N_. */
#define N_(s) (s)

/* Loads dir/<lang>/commonground.mo for every subdirectory <lang> of dir (a lang is
 * 2-8 letters, digits or '_'), replacing anything loaded before. A missing dir is not
 * an error (English only). Returns 0, or -1 with "file: message" in err when a
 * catalogue is malformed (then nothing is loaded). */
int i18n_load(const char *dir, char *err, size_t errlen);
/* Loads one catalogue from a file as language lang, in addition to those loaded. Same
 * result convention. */
int i18n_load_file(const char *lang, const char *path, char *err, size_t errlen);
/* Forgets every catalogue. */
void i18n_free(void);

/* The translation of msgid in lang, or msgid itself when lang is unknown/NULL, is
 * "en", or has no (non-empty) translation. Never NULL for a non-NULL msgid. */
const char *i18n_gettext(const char *lang, const char *msgid);
/* Plural lookup: picks the form for n with the catalogue's Plural-Forms rule; falls
 * back to English rules (n == 1 ? msgid : msgid_plural). */
const char *i18n_ngettext(const char *lang, const char *msgid, const char *msgid_plural,
                          unsigned long n);

/* Chooses the response language: cookie_lang when it is supported; otherwise the
 * supported language with the highest q in an Accept-Language header (a range such as
 * "cy-GB" matches "cy"; q=0 excludes; "*" means any; ties go to the earlier entry);
 * otherwise "en". Returns a string owned by the module (compare with strcmp). */
const char *i18n_negotiate(const char *accept_language, const char *cookie_lang);
/* Returns the canonical supported code equal to lang ("en", "cy"), or NULL. */
const char *i18n_supported(const char *lang);
/* The supported languages, "en" first, then loaded catalogues in code order;
 * NULL-terminated, owned by the module. */
const char *const *i18n_languages(void);

#endif
