#!/usr/bin/env bash
# tests/clients/p11tool.sh — GnuTLS p11tool against a PKCS#11 module.
#
#   eval "$(ci/softhsm/setup DIR)"
#   tests/clients/p11tool.sh            # through kmsbridge ($KMSBRIDGE_MODULE)
#   tests/clients/p11tool.sh --direct   # SoftHSM2 directly, to validate the suite
#
# Makes objects beforehand with pkcs11-tool (RSA and EC key pairs, a private AES key, a
# public and a private data object, a certificate), then asserts that
# `p11tool --provider MODULE --login --list-all` lists every one of them with its type, that
# without login the private ones are hidden and the public ones are not, that the
# certificate exports byte-identical, that certtool signs self-signed certificates with
# the token's RSA and EC keys, and that a wrong PIN is refused.
source "$(dirname "$0")/lib.sh"
parse_args "$@"
cd "$WORK"

TOK_URI="pkcs11:token=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$TOKEN_LABEL")"
P=p11t-$RUN
pt() { p11tool --provider "$MODULE" "$@" < /dev/null; }

make_objects() {
  p11l --keypairgen --key-type rsa:2048 --id "$(rid)" --label "$P-rsa" --usage-sign
  p11l --keypairgen --key-type EC:prime256v1 --id "$(rid)" --label "$P-ec" --usage-sign
  p11l --keygen --key-type AES:32 --id "$(rid)" --label "$P-aes" --private
  echo "public data $RUN" > pub.txt
  p11l --write-object pub.txt --type data --label "$P-data-pub" --application-label kmsbridge-client-test
  echo "private data $RUN" > priv.txt
  p11l --write-object priv.txt --type data --label "$P-data-priv" --application-label kmsbridge-client-test --private
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
    -subj "/CN=p11tool test $RUN" -days 2 -outform DER -out cert.der
  p11l --write-object cert.der --type cert --id "$(rid)" --label "$P-cert"
}
setup_step "pkcs11-tool makes the objects (key pairs, AES key, data objects, certificate)" make_objects

# (type, label) pairs as p11tool prints them: "Type: ..." then "Label: ..."
pairs() { awk '/^\tType: /{ sub(/^\tType: /, ""); t = $0 } /^\tLabel: /{ sub(/^\tLabel: /, ""); print t " | " $0 }' "$1"; }
expect_pair() { # FILE TYPE-REGEX LABEL
  pairs "$1" | grep -Eq "^$2 \| $3\$" || { echo "missing: $2 | $3"; return 1; }
}
expect_no_label() { # FILE LABEL
  pairs "$1" | grep -Eq " \| $2\$" && { echo "listed but must be hidden: $2"; return 1; }
  return 0
}

list_tokens() { pt --list-tokens > tokens.txt; cat tokens.txt; grep -Eq "^\sLabel: $TOKEN_LABEL\$" tokens.txt; }
check "p11tool --list-tokens shows '$TOKEN_LABEL'" list_tokens

list_all_login() {
  GNUTLS_PIN=$USER_PIN pt --login --list-all "$TOK_URI" > all.txt; cat all.txt
  local bad=0
  expect_pair all.txt 'Private key \(RSA-2048\)' "$P-rsa" || bad=1
  expect_pair all.txt 'Public key \(RSA-2048\)' "$P-rsa" || bad=1
  expect_pair all.txt 'Private key \(EC/ECDSA-SECP256R1\)' "$P-ec" || bad=1
  expect_pair all.txt 'Public key \(EC/ECDSA-SECP256R1\)' "$P-ec" || bad=1
  expect_pair all.txt 'Secret key' "$P-aes" || bad=1
  expect_pair all.txt 'Data' "$P-data-pub" || bad=1
  expect_pair all.txt 'Data' "$P-data-priv" || bad=1
  expect_pair all.txt 'X\.509 Certificate.*' "$P-cert" || bad=1
  return $bad
}
check "p11tool --login --list-all lists every object made beforehand, with its type" list_all_login

list_all_public() {
  pt --list-all "$TOK_URI" > pub.txt; cat pub.txt
  local bad=0
  expect_pair pub.txt 'Public key \(RSA-2048\)' "$P-rsa" || bad=1
  expect_pair pub.txt 'Public key \(EC/ECDSA-SECP256R1\)' "$P-ec" || bad=1
  expect_pair pub.txt 'Data' "$P-data-pub" || bad=1
  expect_pair pub.txt 'X\.509 Certificate.*' "$P-cert" || bad=1
  pairs pub.txt | grep -E "^Private key" && { echo "a private key is listed without login"; bad=1; }
  expect_no_label pub.txt "$P-aes" || bad=1
  expect_no_label pub.txt "$P-data-priv" || bad=1
  return $bad
}
check "p11tool --list-all without login: public objects listed, private ones hidden" list_all_public

export_cert() {
  pt --export "$TOK_URI;object=$P-cert;type=cert" > exported.pem
  openssl x509 -in exported.pem -outform DER | cmp - cert.der
}
check "p11tool --export returns the stored certificate byte for byte" export_cert

# certtool signs with the token's RSA and EC keys (GnuTLS's PKCS#11 signing path, not
# only listing): self-signed certificates whose signatures OpenSSL checks against the
# public keys read from the token.
certtool_signs() {
  local kind
  printf 'cn = "certtool %s"\nexpiration_days = 2\nsigning_key\n' "$RUN" > cert.tmpl
  for kind in rsa ec; do
    GNUTLS_PIN=$USER_PIN certtool --provider "$MODULE" --generate-self-signed \
      --load-privkey "$TOK_URI;object=$P-$kind;type=private" \
      --load-pubkey "$TOK_URI;object=$P-$kind;type=public" \
      --template cert.tmpl --outfile "ct-$kind.pem" < /dev/null || return 1
    GNUTLS_PIN=$USER_PIN pt --login --export-pubkey "$TOK_URI;object=$P-$kind;type=public" > "pub-$kind.pem" || return 1
    openssl x509 -in "ct-$kind.pem" -noout -pubkey | cmp - <(openssl pkey -pubin -in "pub-$kind.pem") || return 1
    openssl verify -check_ss_sig -partial_chain -trusted "ct-$kind.pem" "ct-$kind.pem" || return 1
  done
}
check "certtool --generate-self-signed signs with the token's RSA and EC keys (OpenSSL verifies)" certtool_signs

wrong_pin() { GNUTLS_PIN=wrong-pin-0000 pt --login --list-all "$TOK_URI"; }
# GnuTLS asks for the PIN again (flag GNUTLS_PIN_WRONG, which p11tool prints as below)
# only when C_Login answered CKR_PIN_INCORRECT.
check_refused "p11tool --login with a wrong PIN is refused: CKR_PIN_INCORRECT" \
  "Wrong PIN has been provided" wrong_pin

summary
