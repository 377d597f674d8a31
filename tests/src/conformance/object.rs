//! Objects: create, find, get/set attributes, copy, destroy, size, visibility.

use super::raw_attr;
use crate::deviation::KEY_VALUE_LEN;
use crate::env::Env;
use crate::kat::{h, AES128_KEY, AES_ECB_CT, AES_PT};
use crate::raw::rv;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;
use kmsbridge_testkit::codes::{code_of, err_of};
use kmsbridge_testkit::keys::{attr_bool, attr_bytes, attr_ulong, find};
use std::num::NonZeroUsize;

fn data(label: &str, value: &[u8], token: bool, private: bool) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(token),
        Attribute::Private(private),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Application(b"kb-conformance".to_vec()),
        Attribute::Value(value.to_vec()),
    ]
}

fn by_label(s: &Session, label: &str) -> Vec<ObjectHandle> {
    find(s, &[Attribute::Label(label.as_bytes().to_vec())])
}

/// Create, find, read, modify, copy and destroy a data object.
pub fn data_object_lifecycle(t: &Env) {
    let s = t.user_session();
    let obj = s.create_object(&data("lc", b"hello", false, false)).expect("C_CreateObject");
    assert_eq!(by_label(&s, "lc"), vec![obj]);
    assert_eq!(attr_bytes(&s, obj, AttributeType::Value), b"hello");
    assert_eq!(attr_bytes(&s, obj, AttributeType::Application), b"kb-conformance");
    let value = s.update_attributes(obj, &[Attribute::Value(b"world!".to_vec())]);
    assert_eq!(err_of(value), RvError::AttributeReadOnly, "a data object's CKA_VALUE");
    s.update_attributes(obj, &[Attribute::Label(b"lc-2".to_vec())])
        .expect("C_SetAttributeValue (CKA_LABEL)");
    assert_eq!(attr_bytes(&s, obj, AttributeType::Label), b"lc-2");
    assert!(by_label(&s, "lc").is_empty(), "found under the old label");
    let copy = s.copy_object(obj, &[Attribute::Label(b"lc-copy".to_vec())]).expect("C_CopyObject");
    assert_ne!(copy, obj);
    assert_eq!(attr_bytes(&s, copy, AttributeType::Value), b"hello");
    assert_eq!(attr_bytes(&s, copy, AttributeType::Label), b"lc-copy");
    assert_eq!(attr_bytes(&s, obj, AttributeType::Label), b"lc-2", "copy changed the source");
    s.destroy_object(copy).expect("C_DestroyObject");
    assert!(by_label(&s, "lc-copy").is_empty(), "destroyed object still found");
    let gone = s.get_attributes(copy, &[AttributeType::Value]);
    assert_eq!(err_of(gone), RvError::ObjectHandleInvalid);
    assert_eq!(err_of(s.destroy_object(copy)), RvError::ObjectHandleInvalid);
    s.destroy_object(obj).expect("C_DestroyObject");
}

/// Token objects outlive their session; session objects die with theirs.
pub fn token_object_persists(t: &Env) {
    let ro = t.ro_session();
    let refused = ro.create_object(&data("persist", b"v", true, false));
    assert_eq!(err_of(refused), RvError::SessionReadOnly, "token object from a R/O session");
    let a = t.rw_session();
    let tok = a.create_object(&data("persist", b"v", true, false)).expect("token object");
    let ses = a.create_object(&data("ephemeral", b"v", false, false)).expect("session object");
    assert_eq!(by_label(&ro, "ephemeral"), vec![ses], "session object seen from another session");
    assert!(attr_bool(&a, tok, AttributeType::Token));
    assert!(!attr_bool(&a, ses, AttributeType::Token));
    a.close().expect("C_CloseSession");
    assert!(by_label(&ro, "ephemeral").is_empty(), "session object outlived its session");
    let found = by_label(&ro, "persist");
    assert_eq!(found.len(), 1, "token object lost with its session");
    assert_eq!(attr_bytes(&ro, found[0], AttributeType::Value), b"v");
    let rw = t.rw_session();
    rw.destroy_object(found[0]).expect("C_DestroyObject (token object)");
    assert!(by_label(&ro, "persist").is_empty());
}

/// An AES key created by value: its attributes, its value in use, CKA_VALUE sensitive.
pub fn aes_key_by_value(t: &Env) {
    let s = t.user_session();
    let key = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(false),
            Attribute::Value(h(AES128_KEY)),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Sensitive(true),
        ])
        .expect("C_CreateObject (AES by value)");
    assert_eq!(attr_ulong(&s, key, AttributeType::ValueLen), 16);
    assert!(!attr_bool(&s, key, AttributeType::Local), "an imported key is CKA_LOCAL");
    assert!(attr_bool(&s, key, AttributeType::Sensitive));
    let ct = s.encrypt(&Mechanism::AesEcb, key, &h(AES_PT)).expect("C_Encrypt");
    assert_eq!(hex::encode(ct), hex::encode(h(AES_ECB_CT)));
    let (code, len, _) = raw_attr(t, s.handle(), key.handle(), CKA_VALUE, Some(32));
    assert_eq!(code, rv(CKR_ATTRIBUTE_SENSITIVE), "CKA_VALUE of a sensitive key");
    assert_eq!(len, CK_UNAVAILABLE_INFORMATION);
    let bad = s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(false),
        Attribute::Value(vec![7; 15]),
    ]);
    let got = code_of(&bad);
    t.expect_spec(
        "15-byte AES key",
        got,
        Err(RvError::AttributeValueInvalid),
        &KEY_VALUE_LEN,
        Ok(()),
    );
}

/// C_GetObjectSize answers for live objects and refuses dead handles.
pub fn object_size(t: &Env) {
    let s = t.user_session();
    let obj = s.create_object(&data("size", &[0x5a; 100], false, false)).unwrap();
    let mut size: CK_ULONG = 0;
    let code = crate::ck!(t, C_GetObjectSize, s.handle(), obj.handle(), &mut size);
    assert_eq!(code, rv(CKR_OK), "C_GetObjectSize");
    assert!(
        size == CK_UNAVAILABLE_INFORMATION || size >= 100,
        "size {size} smaller than the 100-byte value"
    );
    s.destroy_object(obj).unwrap();
    let code = crate::ck!(t, C_GetObjectSize, s.handle(), obj.handle(), &mut size);
    assert_eq!(code, rv(CKR_OBJECT_HANDLE_INVALID), "C_GetObjectSize of a destroyed object");
    let code = crate::ck!(t, C_GetObjectSize, s.handle(), obj.handle(), std::ptr::null_mut());
    // Both codes apply and both are "other" return values: PKCS#11 3.0 5.1.7 lets a
    // module return either.
    assert!(
        code == rv(CKR_ARGUMENTS_BAD) || code == rv(CKR_OBJECT_HANDLE_INVALID),
        "NULL pulSize: {code:?}"
    );
}

/// Private objects cannot be made or seen without login. C_Logout destroys private session
/// objects and invalidates handles to private objects, even after a new login (spec C_Logout).
pub fn private_objects_need_login(t: &Env) {
    let public = t.rw_session();
    let refused = public.create_object(&data("priv-early", b"x", false, true));
    assert_eq!(err_of(refused), RvError::UserNotLoggedIn, "private object before login");
    let s = t.user_session();
    let priv_tok = s.create_object(&data("priv-tok", b"x", true, true)).unwrap();
    let priv_ses = s.create_object(&data("priv-ses", b"x", false, true)).unwrap();
    let pub_tok = s.create_object(&data("pub-tok", b"x", true, false)).unwrap();
    let pub_ses = s.create_object(&data("pub-ses", b"x", false, false)).unwrap();
    s.logout().expect("C_Logout");
    assert!(by_label(&public, "priv-tok").is_empty(), "private token object seen");
    assert!(by_label(&public, "priv-ses").is_empty(), "private session object seen");
    assert_eq!(by_label(&public, "pub-tok"), vec![pub_tok]);
    assert_eq!(by_label(&public, "pub-ses"), vec![pub_ses], "public session object lost");
    let all = find(&public, &[Attribute::Class(ObjectClass::DATA)]);
    assert!(all.contains(&pub_tok) && !all.contains(&priv_tok) && !all.contains(&priv_ses));
    // Not visible without login, so not an object of this session (spec C_Logout).
    let (code, _, _) = raw_attr(t, public.handle(), priv_tok.handle(), CKA_VALUE, Some(8));
    let what = "a private object's value read without login";
    assert_eq!(code, rv(CKR_OBJECT_HANDLE_INVALID), "{what}");
    s.login(cryptoki::session::UserType::User, Some(&t.user_auth())).unwrap();
    assert!(by_label(&public, "priv-ses").is_empty(), "C_Logout kept a private session object");
    let found = by_label(&public, "priv-tok");
    assert_eq!(found.len(), 1, "private token object after login");
    assert_eq!(attr_bytes(&s, found[0], AttributeType::Value), b"x");
    for (old, what) in [(priv_tok, "private token object"), (priv_ses, "private session object")] {
        let (code, _, _) = raw_attr(t, s.handle(), old.handle(), CKA_VALUE, Some(8));
        assert_eq!(code, rv(CKR_OBJECT_HANDLE_INVALID), "pre-logout handle of a {what}");
    }
    assert_eq!(attr_bytes(&s, pub_tok, AttributeType::Value), b"x", "public handle changed");
    s.destroy_object(found[0]).unwrap();
    s.destroy_object(pub_tok).unwrap();
}

/// Finding by class, id and application; one-at-a-time iteration; find state errors.
pub fn find_objects_templates(t: &Env) {
    let s = t.user_session();
    let key = |id: u8| {
        s.create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(false),
            Attribute::Id(vec![id]),
            Attribute::Value(vec![id; 16]),
        ])
        .unwrap()
    };
    let (k1, k2a, k2b) = (key(1), key(2), key(2));
    let mut made = Vec::new();
    for i in 0..5 {
        made.push(s.create_object(&data(&format!("find-{i}"), b"x", false, false)).unwrap());
    }
    let class_id = |id: u8| {
        let mut v = find(&s, &[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Id(vec![id])]);
        v.sort_by_key(|o| o.handle());
        v
    };
    assert_eq!(class_id(1), vec![k1]);
    let mut two = vec![k2a, k2b];
    two.sort_by_key(|o| o.handle());
    assert_eq!(class_id(2), two);
    assert!(class_id(9).is_empty());
    let app = [Attribute::Application(b"kb-conformance".to_vec())];
    let mut found = find(&s, &app);
    found.sort_by_key(|o| o.handle());
    made.sort_by_key(|o| o.handle());
    assert_eq!(found, made);
    let one = NonZeroUsize::new(1).unwrap();
    let mut stepped: Vec<_> = s
        .iter_objects_with_cache_size(&app, one)
        .unwrap()
        .collect::<Result<_, _>>()
        .expect("C_FindObjects one at a time");
    stepped.sort_by_key(|o| o.handle());
    assert_eq!(stepped, made);
    let everything = find(&s, &[]);
    for o in made.iter().chain([k1, k2a, k2b].iter()) {
        assert!(everything.contains(o), "empty template missed {o:?}");
    }
    let h = s.handle();
    let mut none = CK_ATTRIBUTE::default();
    assert_eq!(crate::ck!(t, C_FindObjectsInit, h, &mut none, 0), rv(CKR_OK));
    let code = crate::ck!(t, C_FindObjectsInit, h, &mut none, 0);
    assert_eq!(code, rv(CKR_OPERATION_ACTIVE), "second C_FindObjectsInit");
    assert_eq!(crate::ck!(t, C_FindObjectsFinal, h), rv(CKR_OK));
    let (mut out, mut n) = (0 as CK_OBJECT_HANDLE, 0 as CK_ULONG);
    let code = crate::ck!(t, C_FindObjects, h, &mut out, 1, &mut n);
    assert_eq!(code, rv(CKR_OPERATION_NOT_INITIALIZED), "C_FindObjects after Final");
    let code = crate::ck!(t, C_FindObjectsFinal, h);
    assert_eq!(code, rv(CKR_OPERATION_NOT_INITIALIZED), "C_FindObjectsFinal twice");
}

/// C_GetAttributeValue processes every attribute even when some fail.
pub fn get_attribute_partial_failure(t: &Env) {
    let s = t.user_session();
    let obj = s.create_object(&data("partial", b"abc", false, false)).unwrap();
    let (mut label, mut modulus, mut value) = ([0u8; 64], [0u8; 64], [0u8; 64]);
    let mut tpl = [
        CK_ATTRIBUTE { type_: CKA_LABEL, pValue: label.as_mut_ptr() as *mut _, ulValueLen: 64 },
        CK_ATTRIBUTE { type_: CKA_MODULUS, pValue: modulus.as_mut_ptr() as *mut _, ulValueLen: 64 },
        CK_ATTRIBUTE { type_: CKA_VALUE, pValue: value.as_mut_ptr() as *mut _, ulValueLen: 64 },
    ];
    let code = crate::ck!(t, C_GetAttributeValue, s.handle(), obj.handle(), tpl.as_mut_ptr(), 3);
    assert_eq!(code, rv(CKR_ATTRIBUTE_TYPE_INVALID), "CKA_MODULUS on a data object");
    assert_eq!(tpl[1].ulValueLen, CK_UNAVAILABLE_INFORMATION, "invalid type's length");
    assert_eq!(tpl[0].ulValueLen, 7, "CKA_LABEL still returned");
    assert_eq!(&label[..7], b"partial");
    assert_eq!(tpl[2].ulValueLen, 3, "CKA_VALUE still returned");
    assert_eq!(&value[..3], b"abc");
    let (code, len, _) = raw_attr(t, s.handle(), obj.handle(), CKA_VALUE, None);
    assert_eq!((code, len), (rv(CKR_OK), 3), "NULL pValue = length query");
    let (code, len, _) = raw_attr(t, s.handle(), obj.handle(), CKA_VALUE, Some(1));
    assert_eq!(code, rv(CKR_BUFFER_TOO_SMALL), "1-byte buffer for a 3-byte value");
    assert_eq!(len, CK_UNAVAILABLE_INFORMATION, "ulValueLen after CKR_BUFFER_TOO_SMALL");
}

/// Read-only and one-way attributes; CKA_MODIFIABLE/COPYABLE/DESTROYABLE false.
pub fn set_attribute_rules(t: &Env) {
    let s = t.user_session();
    let obj = s.create_object(&data("rules", b"x", false, false)).unwrap();
    let class = s.update_attributes(obj, &[Attribute::Class(ObjectClass::SECRET_KEY)]);
    assert_eq!(err_of(class), RvError::AttributeReadOnly, "changing CKA_CLASS");
    s.update_attributes(obj, &[Attribute::Label(b"rules-2".to_vec())]).expect("CKA_LABEL");
    let key = kmsbridge_testkit::keys::gen_aes(&s, 16);
    s.update_attributes(key, &[Attribute::Sensitive(true)]).expect("CKA_SENSITIVE to true");
    let back = s.update_attributes(key, &[Attribute::Sensitive(false)]);
    assert_eq!(err_of(back), RvError::AttributeReadOnly, "CKA_SENSITIVE back to false");
    s.update_attributes(key, &[Attribute::Extractable(false)]).expect("CKA_EXTRACTABLE false");
    let back = s.update_attributes(key, &[Attribute::Extractable(true)]);
    assert_eq!(err_of(back), RvError::AttributeReadOnly, "CKA_EXTRACTABLE back to true");
    let mut tpl = data("frozen", b"x", false, false);
    tpl.push(Attribute::Modifiable(false));
    tpl.push(Attribute::Copyable(false));
    tpl.push(Attribute::Destroyable(false));
    let frozen = s.create_object(&tpl).expect("C_CreateObject (frozen)");
    let set = s.update_attributes(frozen, &[Attribute::Label(b"thawed".to_vec())]);
    assert_eq!(err_of(set), RvError::ActionProhibited, "modify a CKA_MODIFIABLE=false object");
    let copy = s.copy_object(frozen, &[]);
    assert_eq!(err_of(copy), RvError::ActionProhibited, "copy a CKA_COPYABLE=false object");
    let destroy = s.destroy_object(frozen);
    assert_eq!(
        err_of(destroy),
        RvError::ActionProhibited,
        "destroy a CKA_DESTROYABLE=false object"
    );
    assert_eq!(attr_bytes(&s, frozen, AttributeType::Label), b"frozen");
}
