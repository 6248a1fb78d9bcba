#!/bin/bash
# Refreshes the translation catalogues from the sources (run by `make i18n-extract`).
#
# 1. xgettext collects the C strings marked T(lang, "..."), NT(lang, "...", "...", n)
#    and N_("...") from src/.
# 2. A small Perl pass collects {{_ "..."}} from templates/ (xgettext has no parser
#    for our template language). The template string syntax allows only \" and \\
#    escapes, which are also PO escapes, so the text is copied through as is.
# 3. msgcat merges both into po/commonground.pot, and msgmerge updates every
#    po/<lang>.po named in po/LINGUAS, keeping existing translations.
set -euo pipefail
cd "$(dirname "$0")/.."

out=build/i18n
mkdir -p "$out"

mapfile -t csrc < <(find src -name '*.c' -o -name '*.h' | sort)
xgettext --language=C --from-code=UTF-8 --force-po --add-comments=TRANSLATORS: \
  --keyword= --keyword=T:2 --keyword=NT:2,3 --keyword=N_ \
  --package-name=commonground --msgid-bugs-address="see README.md" \
  -o "$out/c.pot" "${csrc[@]}"

mapfile -t tsrc < <(find templates -name '*.html' 2>/dev/null | sort)
perl -e '
  my (@order, %refs);
  for my $f (@ARGV) {
    open(my $fh, "<:raw", $f) or die "$f: $!\n";
    local $/; my $s = <$fh>; close $fh;
    while ($s =~ /\{\{\s*_\s+"((?:[^"\\]|\\["\\])*)"\s*\}\}/g) {
      my ($id, $at) = ($1, $-[0]);
      my $line = 1 + (substr($s, 0, $at) =~ tr/\n//);
      $id =~ s/\n/\\n/g; $id =~ s/\t/\\t/g;
      push @order, $id unless exists $refs{$id};
      push @{$refs{$id}}, "$f:$line";
    }
  }
  print "msgid \"\"\nmsgstr \"\"\n\"Content-Type: text/plain; charset=UTF-8\\n\"\n\n";
  for my $id (@order) {
    print "#: @{$refs{$id}}\nmsgid \"$id\"\nmsgstr \"\"\n\n";
  }' "${tsrc[@]}" >"$out/templates.pot"

msgcat --use-first --sort-by-file -o po/commonground.pot "$out/c.pot" "$out/templates.pot"

while read -r lang; do
  case "$lang" in ''|'#'*) continue ;; esac
  if [ -f "po/$lang.po" ]; then
    msgmerge --quiet --update --backup=none --no-fuzzy-matching "po/$lang.po" po/commonground.pot
  else
    msginit --no-translator --locale="$lang" -i po/commonground.pot -o "po/$lang.po"
  fi
  echo "po/$lang.po: $(msgfmt --statistics -o /dev/null "po/$lang.po" 2>&1)"
done <po/LINGUAS
