//! OpenSSH formats, checked by OpenSSH itself: `ssh-keygen -y` reads our private keys,
//! and signatures made with them verify against our `authorized_keys` lines.

// Tests and benches: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use kmsbridge_secrets::ssh::{self, SshKeyKind};

/// ssh-keygen, or None after saying loudly why the check is skipped.
fn ssh_keygen() -> Option<&'static str> {
    let ok = Command::new("ssh-keygen").arg("-?").output().is_ok();
    if !ok {
        println!("SKIPPED: ssh-keygen is not installed (apt-get install openssh-client); OpenSSH checks not run");
        eprintln!("SKIPPED: ssh-keygen is not installed (apt-get install openssh-client); OpenSSH checks not run");
        return None;
    }
    Some("ssh-keygen")
}

fn write_key(dir: &Path, pem: &str) -> std::path::PathBuf {
    let p = dir.join("id");
    std::fs::write(&p, pem).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// `ssh-keygen -y` prints the public key of our private key: it must equal our line.
fn check_with_openssh(pem: &str) {
    let line = ssh::authorized_key(pem).unwrap();
    let Some(kg) = ssh_keygen() else { return };
    let dir = tempfile::tempdir().unwrap();
    let key = write_key(dir.path(), pem);
    let out = Command::new(kg)
        .arg("-y")
        .arg("-f")
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen -y: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = String::from_utf8(out.stdout).unwrap();
    let fields = |s: &str| {
        s.split_whitespace()
            .take(2)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(fields(&theirs), fields(&line));

    // Sign with the private key, verify against our authorized_keys line.
    let msg = dir.path().join("msg");
    std::fs::write(&msg, b"signed by a kmsbridge secret").unwrap();
    let st = Command::new(kg)
        .args(["-q", "-Y", "sign", "-n", "test", "-f"])
        .arg(&key)
        .arg(&msg)
        .status()
        .unwrap();
    assert!(st.success(), "ssh-keygen -Y sign");
    let allowed = dir.path().join("allowed");
    let mut parts = line.split_whitespace();
    let (kind, b64) = (parts.next().unwrap(), parts.next().unwrap());
    std::fs::write(&allowed, format!("tester {kind} {b64}\n")).unwrap();
    let out = Command::new(kg)
        .args(["-Y", "verify", "-n", "test", "-I", "tester", "-f"])
        .arg(&allowed)
        .arg("-s")
        .arg(msg.with_extension("sig"))
        .stdin(std::fs::File::open(&msg).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ed25519_known_vector() {
    // RFC 8032 test 1.
    let seed =
        hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap();
    let public =
        hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a").unwrap();
    let pem = ssh::ed25519_private(&seed, &public, "rfc8032").unwrap();
    assert!(pem.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
    assert!(pem.ends_with("-----END OPENSSH PRIVATE KEY-----\n"));
    assert!(pem.lines().all(|l| l.len() <= 70));
    assert_eq!(
        ssh::authorized_key(&pem).unwrap(),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea rfc8032"
    );
    check_with_openssh(&pem);
    assert!(ssh::ed25519_private(&seed[..31], &public, "").is_err());
}

#[test]
fn ed25519_generated() {
    let a = ssh::generate(SshKeyKind::Ed25519, "app@host").unwrap();
    let b = ssh::generate(SshKeyKind::Ed25519, "app@host").unwrap();
    assert_ne!(*a, *b);
    assert!(ssh::authorized_key(&a).unwrap().ends_with(" app@host"));
    check_with_openssh(&a);
}

#[test]
fn rsa_from_pkcs8() {
    let pem = ssh::generate(SshKeyKind::Rsa(2048), "rsa@host").unwrap();
    assert!(ssh::authorized_key(&pem)
        .unwrap()
        .starts_with("ssh-rsa AAAAB3NzaC1yc2E"));
    check_with_openssh(&pem);
    assert!(ssh::generate(SshKeyKind::Rsa(1024), "").is_err());
    assert!(ssh::rsa_private(b"\x30\x03\x02\x01\x00", "").is_err());
}

#[test]
fn reads_keys_made_by_openssh() {
    let Some(kg) = ssh_keygen() else { return };
    for t in ["ed25519", "rsa"] {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        let st = Command::new(kg)
            .args(["-q", "-t", t, "-N", "", "-C", "made-by-openssh", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(st.success());
        let ours = ssh::authorized_key(&std::fs::read_to_string(&key).unwrap()).unwrap();
        let theirs = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        assert_eq!(ours.trim(), theirs.trim(), "{t}");
    }
    let e = ssh::authorized_key("not a key").unwrap_err();
    assert!(e.to_string().contains("BEGIN"), "{e}");
}
