//! `kmsbridge`: the admin tool. It is a PKCS#11 client of libkmsbridge.so itself,
//! never a back door around the module.

mod aap;
mod audit;
mod cluster;
mod init;
mod kms;
mod module;
mod pin_hash;
mod quickstart;
mod quota;
mod secret;
mod slots;
mod status;
mod unlock_so;

const USAGE: &str = "usage: kmsbridge <command>

commands:
  quickstart [--keep]
                    run the main job through libkmsbridge.so: keys, encrypt/decrypt,
                    sign/verify, attributes, a BYOK import, two applications with
                    different rights (access points: one refused, with the module's
                    log line that says why), with timings. Without
                    KMSBRIDGE_CONF it makes a fresh software instance in a temporary
                    directory with random PINs (kept with --keep); with it, it uses the
                    configured instance (KMSBRIDGE_TOKEN_LABEL picks one) and
                    KMSBRIDGE_USER_PIN or --pin (and KMSBRIDGE_SO_PIN for the access
                    point step, which then removes what it made)
  slots             list the instances (slots) the module serves
  status [--json]   per instance: slot, type, token state (initialised, PIN flags),
                    HSM nodes, and the quota: limits, current rate (ops/s over the last
                    whole second) and admitted / waited / refused counts (docs/QUOTAS.md)
  init [--slot N] [--label L] [--so-pin P] [--pin P]
                    initialise an instance's token (C_InitToken) and set its user PIN
                    (C_InitPIN); PINs also from KMSBRIDGE_SO_PIN / KMSBRIDGE_USER_PIN
  hash-pin [PIN]    print the salted slow hash of a PIN for the config file
                    (reads the PIN from standard input when not given)

KMS keys (docs/KEYS.md); KEY is a key id in hex or an alias:
  key create [--alias A] [--spec SPEC] [--origin kms|external]
                    make a KMS key; SPEC is aes-128, aes-192, aes-256 (default),
                    rsa-2048, rsa-3072, rsa-4096, ec-p256 or ec-p384; origin external
                    makes a key without material, waiting for an import
  key list          the KMS keys: id, alias, spec, origin, state, primary version,
                    deletion date or material expiry
  key describe KEY  every attribute of the key's record and of each version's objects
  key enable KEY    key disable KEY
                    allow or refuse every cryptographic use of the key
  key schedule-deletion KEY [--days 7..30]
                    destroy the key (every version) after the window (default 30 days)
  key cancel-deletion KEY
                    cancel a scheduled deletion; the key is Enabled again
  key delete-material KEY
                    delete an imported key's material now; it waits for a re-import of
                    the same material
  key rotate KEY    make a new primary version of a symmetric key of origin KMS

BYOK import (docs/KEYS.md, Import):
  import get-parameters KEY [--bits 2048|3072|4096] --out DIR
                    a fresh import public key and single-use token for KEY: writes
                    DIR/public.pem (SubjectPublicKeyInfo PEM, for `openssl pkeyutl -pubin
                    -inkey`) and DIR/token, and prints the token's expiry
  import key-material KEY --blob FILE --token FILE --algorithm ALG [--expire-unix T]
                    import the wrapped material; ALG is RSAES_OAEP_SHA_1,
                    RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256;
                    T (unix seconds) is when the material expires

HSM cluster of a hardware instance (docs/CLUSTER.md):
  cluster init [--slot N | --token LABEL] [--so-pin PIN]
                    provision the cluster domain key on every node (C_GenerateKey
                    with CKM_KMSBRIDGE_CLUSTER_INIT as the instance's SO; each node's
                    so_credential_file gives its HSM SO PIN); safe to run again
  cluster unlock-so [--instance NAME]
                    unlock the front SO PIN of a hardware instance locked after too
                    many wrong attempts, with the nodes' own credential files
  cluster status [--slot N | --token LABEL] [--json]
                    each node's state, load, calls served, lag and last error; no login

Application access points (docs/ACCESS.md); as the instance's SO, whose PIN comes
from --so-pin-file FILE, --so-pin PIN, KMSBRIDGE_SO_PIN or a prompt; every one also
takes --slot N or --token LABEL:
  aap create NAME [--description TEXT] [--policy-file FILE]
                    make an access point (an application identity); without a policy
                    it may do nothing
  aap list [--json] the access points: stored in the instance or configured in the file
  aap describe NAME [--json]
                    its description, policy and credentials (id, window, failures,
                    locked)
  aap delete NAME   delete it; its client keys no longer log in
  aap policy set NAME FILE
                    replace its policy by FILE (TOML [[statement]] tables, checked here
                    first: an error names the line)
  aap policy show NAME
                    print its policy as stored
  aap credential add NAME [--not-before T] [--not-after T] [--out FILE]
                    a new client key for NAME, shown once (on standard output, or in
                    FILE, created with mode 0600, never over an existing file); T is
                    RFC 3339 UTC such as 2026-01-31T00:00:00Z
  aap credential list NAME [--json]
  aap credential revoke NAME ID
  aap credential unlock NAME ID
                    revoke a credential, or clear its wrong-key count after a lockout
  aap credential hash [--not-before T] [--not-after T] [--out FILE]
                    a new client key and the hash line for a hardware instance's
                    configuration file ([[instance.access_point.credential]]); no module

Secrets (docs/SECRETS.md), as the user (--pin PIN, KMSBRIDGE_USER_PIN, or a client
key in KMSBRIDGE_CLIENT_KEY_FILE); values come from files or stdin, never arguments:
  secret create NAME [--type generic|database|ssh-key] [--description TEXT]
                    [--value-file F | --value-stdin | --generate LEN [--exclude CHARS]
                    [--no-upper] [--no-lower] [--no-digits] [--no-punctuation] [--space]]
                    [--ssh-key-type ed25519|rsa2048|rsa3072|rsa4096] [--kms-key ID]
                    [--rotation-days N]
                    a new secret; an ssh-key without a value gets a new key pair and
                    its public key is printed
  secret put NAME (--value-file F | --value-stdin) [--version-id ID] [--stage S]
                    a new version (ACSCurrent unless --stage); the same value under an
                    existing ID succeeds and changes nothing, another value is refused
  secret get NAME [--stage S | --version V] [--field F] [--json]
                    print the value (ACSCurrent by default)
  secret list [--json]
  secret describe NAME [--json]
                    metadata, versions and their stages, rotation state; never values
  secret delete NAME [--recovery-days 7..30]
                    schedule deletion (7 days by default); unreadable meanwhile
  secret restore NAME
  secret rotate NAME [--strategy single-user|dual-account] [--admin-secret NAME]
  secret rotate --due
                    rotate (generic: generated; database: PostgreSQL; ssh-key: a new
                    pair); exit 1 with the reason on failure, ACSCurrent unchanged
  secret exec --env VAR=NAME[.field] ... -- COMMAND ARGS
                    run COMMAND with the values in its environment only

Audit trail of an instance (docs/AUDIT.md):
  audit verify [--dir DIR] [--json]
                    check the whole trail: hash chain, gap-free sequence, checkpoint
                    signatures against the instance's audit key, and that the trail
                    reaches the signed head the instance holds; exit 1 naming the first
                    bad record (file, line, seq, why)
  audit tail [--dir DIR] [--follow] [--json]
                    print the records (human lines, or the raw JSON lines); --follow
                    keeps printing new ones; with --dir no login is needed

  The key, import and audit commands log in as the user on the slot of KMSBRIDGE_TOKEN_LABEL
  (else the first instance) with --pin PIN or KMSBRIDGE_USER_PIN.

exit status: 0 done, 1 refused or failed, 2 usage error

environment:
  KMSBRIDGE_MODULE  path of libkmsbridge.so (default: next to this binary)
  KMSBRIDGE_CONF    the module's configuration file
  KMSBRIDGE_QUOTA_DIR  the directory of the quota bucket files (default /dev/shm)
  KMSBRIDGE_TOKEN_LABEL, KMSBRIDGE_USER_PIN, KMSBRIDGE_SO_PIN  as above";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((command, rest)) => (Some(command.as_str()), rest),
        None => (None, &[][..]),
    };
    let result = match command {
        Some("quickstart") => quickstart::run(rest),
        Some("slots") => slots::run(),
        Some("status") => status::run(rest),
        Some("init") => init::run(rest),
        Some("hash-pin") => pin_hash::run(rest),
        Some("key") => kms::key::run(rest),
        Some("import") => kms::import::run(rest),
        Some("cluster") => cluster::run(rest),
        Some("aap") => aap::run(rest),
        Some("secret") => secret::run(rest),
        Some("audit") => audit::run(rest),
        Some("-h") | Some("--help") | Some("help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("kmsbridge: {e}");
        if e.is::<kms::args::Usage>() {
            eprintln!("kmsbridge: `kmsbridge --help` shows the commands");
            std::process::exit(2);
        }
        std::process::exit(1);
    }
}
