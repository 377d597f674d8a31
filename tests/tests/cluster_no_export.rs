//! A non-extractable key on a 3-node cluster cannot be wrapped out by the application
//! by any route, and its replicas on the nodes carry CKA_WRAP_WITH_TRUSTED (issue 5,
//! "What it must show"). In-process rig: every node a SoftHSM2 token, every mechanism.
//!
//! The cluster makes such keys CKA_EXTRACTABLE = TRUE with CKA_WRAP_WITH_TRUSTED = TRUE
//! on the nodes, so that they can travel between nodes wrapped under the
//! CKA_TRUSTED domain key (cluster/src/replicate.rs); the application sees
//! CKA_EXTRACTABLE = FALSE and may not wrap them.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::context::{CInitializeArgs, CInitializeFlags};
use cryptoki::error::{Error, Rv, RvError};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki_sys::*;
use kmsbridge_testkit::keys::attr_bool;
use kmsbridge_testkit::module::find_slot;
use kmsbridge_testkit::rig::{Rig, RigOptions};
use kmsbridge_tests::ck;
use kmsbridge_tests::cluster::{provision_domain_key, NodeTokens, DOMAIN_KEY_ID};
use kmsbridge_tests::env::{Env, Target};
use std::ffi::c_void;
use std::ptr;

/// Every wrapping mechanism kmsbridge carries (bridge/src/mech.rs).
const WRAP_MECHANISMS: [CK_MECHANISM_TYPE; 12] = [
    CKM_AES_KEY_WRAP,
    CKM_AES_KEY_WRAP_PAD,
    CKM_AES_KEY_WRAP_KWP,
    CKM_AES_ECB,
    CKM_AES_CBC,
    CKM_AES_CBC_PAD,
    CKM_AES_CTR,
    CKM_AES_GCM,
    CKM_RSA_PKCS,
    CKM_RSA_X_509,
    CKM_RSA_PKCS_OAEP,
    CKM_RSA_AES_KEY_WRAP,
];

fn is_rsa(m: CK_MECHANISM_TYPE) -> bool {
    matches!(m, CKM_RSA_PKCS | CKM_RSA_X_509 | CKM_RSA_PKCS_OAEP | CKM_RSA_AES_KEY_WRAP)
}

fn name(m: CK_MECHANISM_TYPE) -> String {
    MechanismType::try_from(m).map_or_else(|_| format!("{m:#x}"), |t| t.to_string())
}

/// C_WrapKey through the raw function list with `mech`'s usual parameters; with
/// `buffer`, into a 4 KiB buffer, else a length query.
fn wrap_raw(
    t: &Env,
    s: CK_SESSION_HANDLE,
    mech: CK_MECHANISM_TYPE,
    wrapping: CK_OBJECT_HANDLE,
    key: CK_OBJECT_HANDLE,
    buffer: bool,
) -> Rv {
    let mut iv = [0x24u8; 16];
    let mut gcm_iv = [0x42u8; 12];
    let mut ctr = CK_AES_CTR_PARAMS { ulCounterBits: 128, cb: [0; 16] };
    let mut gcm = CK_GCM_PARAMS {
        pIv: gcm_iv.as_mut_ptr(),
        ulIvLen: 12,
        ulIvBits: 96,
        pAAD: ptr::null_mut(),
        ulAADLen: 0,
        ulTagBits: 128,
    };
    let mut oaep = CK_RSA_PKCS_OAEP_PARAMS {
        hashAlg: CKM_SHA_1,
        mgf: CKG_MGF1_SHA1,
        source: CKZ_DATA_SPECIFIED,
        pSourceData: ptr::null_mut(),
        ulSourceDataLen: 0,
    };
    let mut oaep2 = oaep;
    let mut rsa_aes = CK_RSA_AES_KEY_WRAP_PARAMS { ulAESKeyBits: 256, pOAEPParams: &mut oaep2 };
    fn p<T>(v: &mut T) -> (*mut c_void, CK_ULONG) {
        (v as *mut T as *mut c_void, std::mem::size_of::<T>() as CK_ULONG)
    }
    let (param, len) = match mech {
        CKM_AES_CBC | CKM_AES_CBC_PAD => (iv.as_mut_ptr() as *mut c_void, 16),
        CKM_AES_CTR => p(&mut ctr),
        CKM_AES_GCM => p(&mut gcm),
        CKM_RSA_PKCS_OAEP => p(&mut oaep),
        CKM_RSA_AES_KEY_WRAP => p(&mut rsa_aes),
        _ => (ptr::null_mut(), 0),
    };
    let mut m = CK_MECHANISM { mechanism: mech, pParameter: param, ulParameterLen: len };
    let mut out = vec![0u8; 4096];
    let mut out_len = out.len() as CK_ULONG;
    let out_ptr = if buffer { out.as_mut_ptr() } else { ptr::null_mut() };
    ck!(t, C_WrapKey, s, &mut m, wrapping, key, out_ptr, &mut out_len)
}

/// C_GetAttributeValue of one attribute through the raw list, as a length query
/// and into a buffer: both codes, and the lengths answered.
fn read_raw(
    t: &Env,
    s: CK_SESSION_HANDLE,
    obj: CK_OBJECT_HANDLE,
    ty: CK_ATTRIBUTE_TYPE,
) -> [(Rv, CK_ULONG); 2] {
    let mut a = CK_ATTRIBUTE { type_: ty, pValue: ptr::null_mut(), ulValueLen: 0 };
    let query = ck!(t, C_GetAttributeValue, s, obj, &mut a, 1);
    let first = (query, a.ulValueLen);
    let mut buf = vec![0u8; 1024];
    let mut a = CK_ATTRIBUTE {
        type_: ty,
        pValue: buf.as_mut_ptr() as *mut c_void,
        ulValueLen: buf.len() as CK_ULONG,
    };
    let read = ck!(t, C_GetAttributeValue, s, obj, &mut a, 1);
    [first, (read, a.ulValueLen)]
}

/// The CKA_ID of a raw handle known to answer with `len` bytes.
fn id_raw(t: &Env, s: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE, len: CK_ULONG) -> Vec<u8> {
    let mut buf = vec![0u8; len as usize];
    let mut a = CK_ATTRIBUTE {
        type_: CKA_ID,
        pValue: buf.as_mut_ptr() as *mut c_void,
        ulValueLen: buf.len() as CK_ULONG,
    };
    assert_eq!(ck!(t, C_GetAttributeValue, s, obj, &mut a, 1), Rv::Ok, "read CKA_ID");
    buf
}

fn err(rv: RvError) -> Rv {
    Rv::Error(rv)
}

fn code_of<T>(r: &cryptoki::error::Result<T>) -> Rv {
    match r {
        Ok(_) => Rv::Ok,
        Err(Error::Pkcs11(rv, _)) => Rv::Error(*rv),
        Err(e) => panic!("not a PKCS#11 answer: {e}"),
    }
}

/// The refusals the spec allows for changing a read-only attribute (footnotes 11
/// and 12: CKA_SENSITIVE cannot change once TRUE, CKA_EXTRACTABLE once FALSE,
/// CKA_WRAP_WITH_TRUSTED once TRUE).
fn read_only_refusal(rv: Rv) -> bool {
    matches!(rv, Rv::Error(RvError::AttributeReadOnly | RvError::ActionProhibited))
}

const AES_ID: &[u8] = b"no-export-aes";
const RSA_ID: &[u8] = b"no-export-rsa";

/// The two keys under test: a token AES-256 key and an RSA-2048 private key, both
/// sensitive and not extractable.
fn make_keys(s: &Session) -> (ObjectHandle, ObjectHandle) {
    let aes = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::ValueLen(32.into()),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::Id(AES_ID.to_vec()),
                Attribute::Label("no-export-aes".into()),
            ],
        )
        .expect("C_GenerateKey (token AES, non-extractable)");
    let (_, rsa) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::Id(RSA_ID.to_vec()),
                Attribute::ModulusBits(2048.into()),
                Attribute::PublicExponent(vec![1, 0, 1]),
                Attribute::Verify(true),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Id(RSA_ID.to_vec()),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
            ],
        )
        .expect("C_GenerateKeyPair (token RSA, non-extractable)");
    (aes, rsa)
}

/// Token AES keys not extractable but not sensitive: one generated, one by value.
fn plain_keys(s: &Session) -> [(ObjectHandle, &'static str); 2] {
    let common = |id: &str| {
        vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(false),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Id(id.as_bytes().to_vec()),
        ]
    };
    let generated = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[common("plain-gen"), vec![Attribute::ValueLen(32.into())]].concat(),
        )
        .expect("C_GenerateKey (not sensitive, not extractable)");
    let by_value = s
        .create_object(
            &[
                common("plain-value"),
                vec![
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::Value(vec![0x77; 32]),
                ],
            ]
            .concat(),
        )
        .expect("C_CreateObject (not sensitive, not extractable)");
    [
        (generated, "a generated key, not sensitive"),
        (by_value, "a key made by value, not sensitive"),
    ]
}

/// The application's own wrapping keys: an AES-256 key and an RSA-2048 public key,
/// and an extractable AES key to show each route works at all. Token keys, so every
/// node holds them: session objects live on the one node that made them, and two
/// made on different nodes cannot be used together.
struct AppKeys {
    aes: ObjectHandle,
    rsa_pub: ObjectHandle,
    control: ObjectHandle,
}

fn app_keys(s: &Session, tag: &str) -> AppKeys {
    let aes_wrap = |id: &str, extractable: bool| {
        s.generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Id(format!("{id}-{tag}").into_bytes()),
                Attribute::ValueLen(32.into()),
                Attribute::Wrap(true),
                Attribute::Encrypt(true),
                Attribute::Sensitive(false),
                Attribute::Extractable(extractable),
            ],
        )
        .expect("C_GenerateKey (application AES)")
    };
    let (rsa_pub, _) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::Id(format!("app-rsa-{tag}").into_bytes()),
                Attribute::ModulusBits(2048.into()),
                Attribute::PublicExponent(vec![1, 0, 1]),
                Attribute::Wrap(true),
                Attribute::Encrypt(true),
            ],
            &[
                Attribute::Token(true),
                Attribute::Id(format!("app-rsa-{tag}").into_bytes()),
                Attribute::Private(true),
                Attribute::Unwrap(true),
            ],
        )
        .expect("C_GenerateKeyPair (application RSA)");
    AppKeys { aes: aes_wrap("app-aes", false), rsa_pub, control: aes_wrap("app-control", true) }
}

/// Every wrapping route with the application's keys refuses `key` with
/// CKR_KEY_UNEXTRACTABLE (mechanisms the module does not offer for wrapping: any
/// refusal), as a length query and into a buffer.
fn every_wrap_refused(t: &Env, s: &Session, app: &AppKeys, key: ObjectHandle, what: &str) {
    let offered = offered_wrap_mechanisms(t);
    for mech in WRAP_MECHANISMS {
        let wrapping = if is_rsa(mech) { app.rsa_pub } else { app.aes };
        for buffer in [false, true] {
            let rv = wrap_raw(t, s.handle(), mech, wrapping.handle(), key.handle(), buffer);
            if offered.contains(&mech) {
                assert_eq!(
                    rv,
                    err(RvError::KeyUnextractable),
                    "C_WrapKey of {what} with {} (buffer: {buffer})",
                    name(mech)
                );
            } else {
                assert_ne!(rv, Rv::Ok, "C_WrapKey of {what} with {} (not offered)", name(mech));
            }
        }
    }
}

/// The module's mechanisms with CKF_WRAP; each must be one this test tries.
fn offered_wrap_mechanisms(t: &Env) -> Vec<CK_MECHANISM_TYPE> {
    let mut out = Vec::new();
    for m in t.ctx.get_mechanism_list(t.slot).expect("C_GetMechanismList") {
        let info = t.ctx.get_mechanism_info(t.slot, m).expect("C_GetMechanismInfo");
        if info.wrap() {
            let ty = CK_MECHANISM_TYPE::from(m);
            assert!(
                WRAP_MECHANISMS.contains(&ty),
                "the module offers {} for wrapping; add it to WRAP_MECHANISMS",
                name(ty)
            );
            out.push(ty);
        }
    }
    out
}

/// The application's view of a non-extractable key.
fn check_view(s: &Session, key: ObjectHandle, what: &str) {
    for (ty, want) in [
        (AttributeType::Extractable, false),
        (AttributeType::Sensitive, true),
        (AttributeType::NeverExtractable, true),
        (AttributeType::AlwaysSensitive, true),
        (AttributeType::Local, true),
    ] {
        assert_eq!(attr_bool(s, key, ty), want, "{what}: {ty:?} as the application sees it");
    }
}

#[test]
fn a_non_extractable_key_never_leaves_the_cluster_and_its_replicas_need_a_trusted_key() {
    let rig =
        Rig::with_options(&RigOptions { nodes: Some(3), in_process: true, ..Default::default() });
    provision_domain_key(&rig);
    let t = Env::with_rig(Target::Bridge, rig);
    let s = t.logged_in();
    let (aes, rsa) = make_keys(&s);
    let app = app_keys(&s, "first");

    // The routes work at all: the same wrapping keys and mechanisms wrap an
    // extractable key.
    let offered = offered_wrap_mechanisms(&t);
    eprintln!(
        "wrapping mechanisms offered: {:?}",
        offered.iter().map(|m| name(*m)).collect::<Vec<_>>()
    );
    for mech in [CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_PAD, CKM_RSA_PKCS, CKM_RSA_PKCS_OAEP] {
        assert!(offered.contains(&mech), "{} is offered for wrapping", name(mech));
        let wrapping = if is_rsa(mech) { app.rsa_pub } else { app.aes };
        let rv = wrap_raw(&t, s.handle(), mech, wrapping.handle(), app.control.handle(), true);
        assert_eq!(rv, Rv::Ok, "control: {} wraps an extractable key", name(mech));
    }

    for (key, what) in [(aes, "the AES key"), (rsa, "the RSA private key")] {
        check_view(&s, key, what);
        every_wrap_refused(&t, &s, &app, key, what);

        // Its secret values are never read.
        let secrets: &[CK_ATTRIBUTE_TYPE] = if key == aes {
            &[CKA_VALUE]
        } else {
            &[CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_COEFFICIENT]
        };
        for ty in secrets {
            for (rv, len) in read_raw(&t, s.handle(), key.handle(), *ty) {
                assert_eq!(rv, err(RvError::AttributeSensitive), "{what}: reading {ty:#x}");
                assert_eq!(len, CK_UNAVAILABLE_INFORMATION, "{what}: length of {ty:#x}");
            }
        }

        // Nor made extractable, insensitive, or free of the trusted-wrap rule.
        for change in [
            Attribute::Extractable(true),
            Attribute::Sensitive(false),
            Attribute::WrapWithTrusted(false),
        ] {
            let r = s.update_attributes(key, std::slice::from_ref(&change));
            assert!(
                read_only_refusal(code_of(&r)),
                "{what}: C_SetAttributeValue {change:?}: {r:?}"
            );
            let r = s.copy_object(key, std::slice::from_ref(&change));
            assert!(read_only_refusal(code_of(&r)), "{what}: C_CopyObject with {change:?}: {r:?}");
        }
        check_view(&s, key, what);

        // A copy (session or token) is just as unextractable.
        for token in [false, true] {
            let copy = s
                .copy_object(key, &[Attribute::Token(token)])
                .unwrap_or_else(|e| panic!("{what}: C_CopyObject (token {token}): {e}"));
            let copied = format!("a copy of {what} (token {token})");
            assert!(!attr_bool(&s, copy, AttributeType::Extractable), "{copied}: CKA_EXTRACTABLE");
            every_wrap_refused(&t, &s, &app, copy, &copied);
            let secret = if key == aes { CKA_VALUE } else { CKA_PRIVATE_EXPONENT };
            for (rv, _) in read_raw(&t, s.handle(), copy.handle(), secret) {
                assert_eq!(rv, err(RvError::AttributeSensitive), "{copied}: reading {secret:#x}");
            }
            let r = s.update_attributes(copy, &[Attribute::Extractable(true)]);
            assert!(read_only_refusal(code_of(&r)), "{copied}: made extractable: {r:?}");
            s.destroy_object(copy).expect("destroy the copy");
        }
    }

    // Keys the application made not extractable but not sensitive either, generated
    // or by value: their values are never revealed (PKCS#11 footnote 7), though the
    // nodes hold them extractable (with trusted keys only).
    for (key, what) in plain_keys(&s) {
        assert!(!attr_bool(&s, key, AttributeType::Extractable), "{what}: CKA_EXTRACTABLE");
        assert!(!attr_bool(&s, key, AttributeType::Sensitive), "{what}: CKA_SENSITIVE");
        for (rv, len) in read_raw(&t, s.handle(), key.handle(), CKA_VALUE) {
            assert_eq!(rv, err(RvError::AttributeSensitive), "{what}: reading CKA_VALUE");
            assert_eq!(len, CK_UNAVAILABLE_INFORMATION, "{what}: length of CKA_VALUE");
        }
        every_wrap_refused(&t, &s, &app, key, what);
        let secret = s.get_attributes(key, &[AttributeType::Value]).expect("read CKA_VALUE");
        assert!(secret.is_empty(), "{what}: cryptoki read a value: {secret:?}");
    }

    // The cluster domain key is a service key: not found, and no handle the
    // application could guess wraps anything.
    assert!(
        s.find_objects(&[Attribute::Id(DOMAIN_KEY_ID.to_vec())]).expect("find").is_empty(),
        "the domain key is found by its CKA_ID"
    );
    let own = s.find_objects(&[]).expect("find everything");
    for h in &own {
        let id = s.get_attributes(*h, &[AttributeType::Id]).unwrap_or_default();
        assert!(
            !id.iter().any(|a| matches!(a, Attribute::Id(v) if v.starts_with(b"kmsbridge.svc."))),
            "an empty template finds a service key: {id:?}"
        );
    }
    let mine: Vec<CK_OBJECT_HANDLE> = own
        .iter()
        .chain([&app.aes, &app.rsa_pub, &app.control, &aes, &rsa])
        .map(|h| h.handle())
        .collect();
    let top = mine.iter().copied().max().unwrap_or(0) + 2000;
    let mut guessed = 0;
    for h in (1..=top).filter(|h| !mine.contains(h)) {
        for key in [app.control, aes] {
            let rv = wrap_raw(&t, s.handle(), CKM_AES_KEY_WRAP_PAD, h, key.handle(), true);
            assert_ne!(rv, Rv::Ok, "handle {h} (not the application's) wrapped a key");
        }
        let [(rv, _), (_, len)] = read_raw(&t, s.handle(), h, CKA_ID);
        if rv == Rv::Ok {
            // Only a service key (the domain key) shows its public attributes by
            // handle (docs/KEYS.md); it is never found, never used, its value unread.
            let id = id_raw(&t, s.handle(), h, len);
            assert!(
                id.starts_with(b"kmsbridge.svc."),
                "handle {h} (not the application's) answers C_GetAttributeValue: {id:?}"
            );
            let [(v, _), _] = read_raw(&t, s.handle(), h, CKA_VALUE);
            assert_eq!(v, err(RvError::AttributeSensitive), "the value of service key {h}");
        }
        guessed += 1;
    }
    eprintln!("{guessed} guessed object handles up to {top}: none usable");

    // A fresh module instance learns the keys from the nodes alone and shows the same.
    drop(s);
    t.ctx.clone().finalize().expect("C_Finalize");
    t.ctx
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .expect("C_Initialize again");
    assert_eq!(find_slot(&t.ctx, &t.label), Some(t.slot), "the same slot after C_Initialize");
    let s = t.logged_in();
    let app = app_keys(&s, "anew");
    let aes = s.find_objects(&[Attribute::Id(AES_ID.to_vec())]).expect("find the AES key");
    let rsa = s
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Id(RSA_ID.to_vec())])
        .expect("find the RSA key");
    assert_eq!((aes.len(), rsa.len()), (1, 1), "the keys after C_Initialize");
    for (key, what) in [(aes[0], "the AES key, anew"), (rsa[0], "the RSA private key, anew")] {
        check_view(&s, key, what);
        every_wrap_refused(&t, &s, &app, key, what);
    }
    drop(s);
    t.ctx.clone().finalize().expect("C_Finalize before looking at the nodes");

    // Straight on each node's token: both keys replicated, each replica
    // CKA_WRAP_WITH_TRUSTED, and no key but the trusted domain key wraps it there.
    let nodes = NodeTokens::open(t.rig());
    for k in 0..t.rig().nodes() {
        let n = nodes.session(k, UserType::User);
        let domain = n
            .find_objects(&[Attribute::Id(DOMAIN_KEY_ID.to_vec())])
            .expect("find the domain key on a node");
        assert_eq!(domain.len(), 1, "node {k}: the domain key");
        assert!(attr_bool(&n, domain[0], AttributeType::Wrap));
        let untrusted = n
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Token(false),
                    Attribute::ValueLen(32.into()),
                    Attribute::Wrap(true),
                    Attribute::Extractable(true),
                ],
            )
            .expect("a non-trusted AES key on the node");
        let loose = n
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Token(false),
                    Attribute::ValueLen(32.into()),
                    Attribute::Extractable(true),
                ],
            )
            .expect("an extractable AES key on the node");
        n.wrap_key(&Mechanism::AesKeyWrapPad, untrusted, loose)
            .expect("control: the non-trusted key wraps an extractable key on the node");
        for (class, id, what) in [
            (ObjectClass::SECRET_KEY, AES_ID, "AES key"),
            (ObjectClass::PRIVATE_KEY, RSA_ID, "RSA private key"),
        ] {
            let found = n
                .find_objects(&[Attribute::Class(class), Attribute::Id(id.to_vec())])
                .expect("find on a node");
            assert_eq!(found.len(), 1, "node {k} holds one replica of the {what}");
            let h = found[0];
            let attrs = n
                .get_attributes(
                    h,
                    &[
                        AttributeType::WrapWithTrusted,
                        AttributeType::Extractable,
                        AttributeType::Sensitive,
                    ],
                )
                .expect("read the replica's flags");
            let flag = |want: fn(&Attribute) -> Option<bool>| attrs.iter().find_map(want);
            let wwt = flag(|a| match a {
                Attribute::WrapWithTrusted(b) => Some(*b),
                _ => None,
            });
            let extractable = flag(|a| match a {
                Attribute::Extractable(b) => Some(*b),
                _ => None,
            });
            let sensitive = flag(|a| match a {
                Attribute::Sensitive(b) => Some(*b),
                _ => None,
            });
            eprintln!(
                "node {k}, {what}: CKA_WRAP_WITH_TRUSTED {wwt:?}, CKA_EXTRACTABLE {extractable:?}, \
                 CKA_SENSITIVE {sensitive:?}"
            );
            assert_eq!(wwt, Some(true), "node {k}: the {what} replica's CKA_WRAP_WITH_TRUSTED");
            assert_eq!(sensitive, Some(true), "node {k}: the {what} replica's CKA_SENSITIVE");
            for mech in [Mechanism::AesKeyWrapPad, Mechanism::AesCbc([0; 16])] {
                let r = n.wrap_key(&mech, untrusted, h);
                eprintln!("node {k}, {what}: wrapped with a non-trusted key: {:?}", code_of(&r));
                assert!(
                    r.is_err(),
                    "node {k}: the {what} replica was wrapped by a non-trusted key"
                );
            }
            let r = n.update_attributes(h, &[Attribute::WrapWithTrusted(false)]);
            assert!(
                read_only_refusal(code_of(&r)),
                "node {k}: the {what} replica lost CKA_WRAP_WITH_TRUSTED: {r:?}"
            );
            // What the cluster itself does to replicate it: the trusted key wraps it.
            n.wrap_key(&Mechanism::AesKeyWrapPad, domain[0], h)
                .unwrap_or_else(|e| panic!("node {k}: the domain key wraps the {what}: {e}"));
        }
    }
    nodes.finish();
}
