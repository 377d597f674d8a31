use super::*;

#[test]
fn created_aes_key_has_defaults_and_computed_attributes() {
    let k = secret(CKK_AES, &[1; 16]);
    assert_eq!(attr_ulong(&k, CKA_VALUE_LEN), 16);
    assert!(!k.is_token() && k.is_private());
    assert!(!k.flag(CKA_SENSITIVE) && k.flag(CKA_EXTRACTABLE));
    assert!(!k.flag(CKA_LOCAL));
    assert!(!k.flag(CKA_ALWAYS_SENSITIVE) && !k.flag(CKA_NEVER_EXTRACTABLE));
    assert_eq!(
        attr_ulong(&k, CKA_KEY_GEN_MECHANISM),
        CK_UNAVAILABLE_INFORMATION
    );
    assert!(k.flag(CKA_ENCRYPT) && k.flag(CKA_WRAP) && !k.flag(CKA_DERIVE));
    assert_eq!(k.class(), CKO_SECRET_KEY);
    // The stored form round-trips.
    let back = SoftObject::from_attrs(k.attrs().map(|(t, v)| (t, v.to_vec())).collect());
    assert_eq!(back.get(CKA_VALUE), Some(&[1u8; 16][..]));
}

#[test]
fn create_refuses_bad_templates_with_the_spec_codes() {
    let base = |extra: Vec<Attr>| {
        let mut t = vec![u(CKA_CLASS, CKO_SECRET_KEY), u(CKA_KEY_TYPE, CKK_AES)];
        t.extend(extra);
        create(&t)
    };
    assert_eq!(
        rv(base(vec![v(CKA_VALUE, &[7; 15])])),
        CKR_ATTRIBUTE_VALUE_INVALID
    );
    assert_eq!(rv(base(vec![])), CKR_TEMPLATE_INCOMPLETE);
    assert_eq!(
        rv(create(&[v(CKA_VALUE, &[1; 16])])),
        CKR_TEMPLATE_INCOMPLETE
    );
    assert_eq!(
        rv(create(&[
            u(CKA_CLASS, CKO_SECRET_KEY),
            v(CKA_VALUE, &[1; 16])
        ])),
        CKR_TEMPLATE_INCOMPLETE
    );
    let val = v(CKA_VALUE, &[1; 16]);
    assert_eq!(
        rv(base(vec![val.clone(), b(CKA_LOCAL, true)])),
        CKR_ATTRIBUTE_READ_ONLY
    );
    assert_eq!(
        rv(base(vec![val.clone(), b(CKA_ALWAYS_SENSITIVE, false)])),
        CKR_ATTRIBUTE_READ_ONLY
    );
    assert_eq!(
        rv(base(vec![val.clone(), v(CKA_MODULUS, &[1])])),
        CKR_ATTRIBUTE_TYPE_INVALID
    );
    assert_eq!(
        rv(base(vec![val.clone(), v(CKA_SENSITIVE, &[1, 0])])),
        CKR_ATTRIBUTE_VALUE_INVALID
    );
    assert_eq!(
        rv(base(vec![
            val.clone(),
            b(CKA_SIGN, true),
            b(CKA_SIGN, false)
        ])),
        CKR_TEMPLATE_INCONSISTENT
    );
    assert_eq!(
        rv(base(vec![val.clone(), u(CKA_VALUE_LEN, 32)])),
        CKR_TEMPLATE_INCONSISTENT
    );
    assert!(base(vec![val.clone(), u(CKA_VALUE_LEN, 16)]).is_ok());
    assert_eq!(
        rv(base(vec![val, b(CKA_ALWAYS_AUTHENTICATE, true)])),
        CKR_ATTRIBUTE_TYPE_INVALID
    );
    assert_eq!(
        rv(create(&[
            u(CKA_CLASS, CKO_SECRET_KEY),
            u(CKA_KEY_TYPE, CKK_DES),
            v(CKA_VALUE, &[1; 8])
        ])),
        CKR_ATTRIBUTE_VALUE_INVALID,
        "single DES is not kept"
    );
    assert!(create(&[
        u(CKA_CLASS, CKO_SECRET_KEY),
        u(CKA_KEY_TYPE, CKK_DES3),
        v(CKA_VALUE, &[1; 24])
    ])
    .is_ok());
    assert_eq!(
        rv(create(&[
            u(CKA_CLASS, CKO_SECRET_KEY),
            u(CKA_KEY_TYPE, CKK_DES3),
            v(CKA_VALUE, &[1; 16])
        ])),
        CKR_ATTRIBUTE_VALUE_INVALID,
        "a DES3 key is 24 bytes"
    );
    assert_eq!(
        rv(create(&[u(CKA_CLASS, CKO_HW_FEATURE)])),
        CKR_ATTRIBUTE_VALUE_INVALID
    );
    assert_eq!(
        rv(create(&[
            u(CKA_CLASS, CKO_CERTIFICATE),
            v(CKA_VALUE, b"der")
        ])),
        CKR_TEMPLATE_INCOMPLETE
    );
}

fn data_object() -> SoftObject {
    create(&[
        u(CKA_CLASS, CKO_DATA),
        v(CKA_LABEL, b"partial"),
        v(CKA_APPLICATION, b"app"),
        v(CKA_VALUE, b"abc"),
    ])
    .unwrap()
}

#[test]
fn get_attributes_answers_each_request() {
    let d = data_object();
    assert!(d.is_private(), "data objects default to private");
    let mut reqs = [
        AttrReq::new(CKA_LABEL, Some(64)),
        AttrReq::new(CKA_MODULUS, Some(64)),
        AttrReq::new(CKA_VALUE, None),
        AttrReq::new(CKA_APPLICATION, Some(1)),
    ];
    assert_eq!(get_attributes(&d, &mut reqs), CKR_ATTRIBUTE_TYPE_INVALID);
    assert_eq!(reqs[0].value(), Some(&b"partial"[..]));
    assert_eq!(reqs[1].len, CK_UNAVAILABLE_INFORMATION);
    assert_eq!(reqs[2].len, 3, "length query");
    assert_eq!(reqs[3].len, CK_UNAVAILABLE_INFORMATION, "short buffer");
    let mut one = [AttrReq::new(CKA_APPLICATION, Some(1))];
    assert_eq!(get_attributes(&d, &mut one), CKR_BUFFER_TOO_SMALL);
}

#[test]
fn sensitive_and_unextractable_values_are_hidden() {
    let mut k = secret(CKK_AES, &[2; 32]);
    assert_eq!(attr(&k, CKA_VALUE), (CKR_OK, Some(vec![2; 32])));
    set_attributes(&mut k, &[b(CKA_SENSITIVE, true)]).unwrap();
    let mut r = [
        AttrReq::new(CKA_VALUE, Some(64)),
        AttrReq::new(CKA_VALUE_LEN, Some(8)),
    ];
    assert_eq!(get_attributes(&k, &mut r), CKR_ATTRIBUTE_SENSITIVE);
    assert_eq!(r[0].len, CK_UNAVAILABLE_INFORMATION);
    assert_eq!(
        r[1].len as usize,
        std::mem::size_of::<CK_ULONG>(),
        "other attributes still answered"
    );
    let mut k = secret(CKK_AES, &[2; 32]);
    set_attributes(&mut k, &[b(CKA_EXTRACTABLE, false)]).unwrap();
    assert_eq!(attr(&k, CKA_VALUE).0, CKR_ATTRIBUTE_SENSITIVE);
    // Data objects never hide their value.
    assert_eq!(
        attr(&data_object(), CKA_VALUE),
        (CKR_OK, Some(b"abc".to_vec()))
    );
    assert!(SoftObject::is_secret_attr(CKA_VALUE) && SoftObject::is_secret_attr(CKA_PRIME_1));
    assert!(!SoftObject::is_secret_attr(CKA_MODULUS) && !SoftObject::is_secret_attr(CKA_LABEL));
}

#[test]
fn set_attributes_follows_one_way_and_read_only_rules() {
    let mut k = secret(CKK_AES, &[3; 16]);
    set_attributes(&mut k, &[b(CKA_SENSITIVE, true)]).unwrap();
    assert_eq!(
        rv(set_attributes(&mut k, &[b(CKA_SENSITIVE, false)])),
        CKR_ATTRIBUTE_READ_ONLY
    );
    set_attributes(&mut k, &[b(CKA_EXTRACTABLE, false)]).unwrap();
    assert_eq!(
        rv(set_attributes(&mut k, &[b(CKA_EXTRACTABLE, true)])),
        CKR_ATTRIBUTE_READ_ONLY
    );
    assert!(
        !k.flag(CKA_ALWAYS_SENSITIVE),
        "a created key never becomes always-sensitive"
    );
    assert_eq!(
        rv(set_attributes(&mut k, &[u(CKA_CLASS, CKO_DATA)])),
        CKR_ATTRIBUTE_READ_ONLY
    );
    assert_eq!(
        rv(set_attributes(&mut k, &[b(CKA_LOCAL, true)])),
        CKR_ATTRIBUTE_READ_ONLY
    );
    assert_eq!(
        rv(set_attributes(&mut k, &[v(CKA_VALUE, &[9; 16])])),
        CKR_ATTRIBUTE_READ_ONLY
    );
    assert_eq!(
        rv(set_attributes(&mut k, &[v(CKA_MODULUS, &[9])])),
        CKR_ATTRIBUTE_TYPE_INVALID
    );
    // All or nothing.
    let r = set_attributes(&mut k, &[v(CKA_LABEL, b"new"), u(CKA_CLASS, CKO_DATA)]);
    assert_eq!(rv(r), CKR_ATTRIBUTE_READ_ONLY);
    assert_eq!(k.get(CKA_LABEL), Some(&b""[..]));
    set_attributes(&mut k, &[v(CKA_LABEL, b"new"), b(CKA_ENCRYPT, false)]).unwrap();
    assert_eq!(k.get(CKA_LABEL), Some(&b"new"[..]));
    let mut d = data_object();
    assert_eq!(
        rv(set_attributes(&mut d, &[v(CKA_VALUE, b"world")])),
        CKR_ATTRIBUTE_READ_ONLY
    );
    let mut frozen = create(&[
        u(CKA_CLASS, CKO_DATA),
        b(CKA_MODIFIABLE, false),
        b(CKA_COPYABLE, false),
    ])
    .unwrap();
    assert_eq!(
        rv(set_attributes(&mut frozen, &[v(CKA_LABEL, b"x")])),
        CKR_ACTION_PROHIBITED
    );
    assert_eq!(rv(copy(&frozen, &[])), CKR_ACTION_PROHIBITED);
}

#[test]
fn copy_changes_only_what_it_may() {
    let k = secret(CKK_AES, &[4; 16]);
    let c = copy(
        &k,
        &[
            v(CKA_LABEL, b"copy"),
            b(CKA_TOKEN, true),
            b(CKA_SENSITIVE, true),
        ],
    )
    .unwrap();
    assert!(c.is_token() && c.flag(CKA_SENSITIVE));
    assert_eq!(c.get(CKA_VALUE), k.get(CKA_VALUE));
    assert_eq!(k.get(CKA_LABEL), Some(&b""[..]), "source unchanged");
    assert_eq!(
        rv(copy(&k, &[v(CKA_VALUE, &[5; 16])])),
        CKR_ATTRIBUTE_READ_ONLY
    );
    let s = copy(&k, &[b(CKA_EXTRACTABLE, false)]).unwrap();
    assert_eq!(
        rv(copy(&s, &[b(CKA_EXTRACTABLE, true)])),
        CKR_ATTRIBUTE_READ_ONLY
    );
    let nm = copy(&k, &[b(CKA_MODIFIABLE, false)]).unwrap();
    assert_eq!(
        rv(copy(&nm, &[b(CKA_MODIFIABLE, true)])),
        CKR_ATTRIBUTE_READ_ONLY
    );
}

#[test]
fn public_keys_and_certificates_default_to_public() {
    let (public, _) = key_gen::ec_pair(ec_params::P256_OID);
    let p = create(
        &public
            .attrs()
            .filter(|(t, _)| matches!(*t, CKA_CLASS | CKA_KEY_TYPE | CKA_EC_PARAMS | CKA_EC_POINT))
            .map(|(t, val)| v(t, val))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(!p.is_private());
    let c = create(&[
        u(CKA_CLASS, CKO_CERTIFICATE),
        u(CKA_CERTIFICATE_TYPE, CKC_X_509),
        v(CKA_VALUE, b"der"),
    ])
    .unwrap();
    assert!(!c.is_private());
    assert_eq!(attr(&c, CKA_VALUE), (CKR_OK, Some(b"der".to_vec())));
}

#[test]
fn prepare_refuses_objects_that_are_not_keys() {
    assert_eq!(rv(prepare(&data_object())), CKR_KEY_HANDLE_INVALID);
}

#[test]
fn mechanism_list_is_truthful() {
    let list = mechanisms();
    let get = |m| {
        list.iter()
            .find(|(t, _)| *t == m)
            .map(|(_, i)| *i)
            .expect("listed")
    };
    assert_ne!(get(CKM_AES_GCM).flags & CKF_ENCRYPT, 0);
    assert_eq!(get(CKM_AES_GCM).flags & CKF_SIGN, 0);
    assert_eq!(get(CKM_AES_KEY_GEN).ulMaxKeySize, 32);
    assert_ne!(get(CKM_ECDSA_SHA256).flags & CKF_EC_NAMEDCURVE, 0);
    assert_ne!(get(CKM_SHA512).flags & CKF_DIGEST, 0);
    for (m, i) in &list {
        assert_ne!(i.flags, 0, "mechanism 0x{m:x} without flags");
    }
    let mut r = [0u8; 32];
    random(&mut r).unwrap();
    assert_ne!(r, [0u8; 32]);
}
