//! One fuzz input run as a program: up to [`MAX_STEPS`] PKCS#11 calls over the
//! sessions and objects it makes, then the module put back as it was found.
//!
//! Format: each step is an opcode byte (`op % OPS`) followed by its arguments, read
//! by `values` (docs/FUZZING.md, "Input format").

mod crypto;

use crate::input::Input;
use crate::mech::Mech;
use crate::values::{ulong, AttrQuery, In, Out, Template};
use cryptoki_sys::*;

/// Calls per program: enough for open-login-make-use-destroy chains, bounded so one
/// input cannot run for long.
pub const MAX_STEPS: usize = 48;

/// Wrong PINs a program may try per role before the harness substitutes the right
/// one: below every lockout bound (the software store locks at 10), so the lockout
/// code is exercised and the token never ends locked.
const WRONG_PIN_BUDGET: u32 = 3;

/// Calls a program is made of; the number is the opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    OpenSession = 0,
    CloseSession,
    CloseAllSessions,
    Login,
    Logout,
    SessionInfo,
    CreateObject,
    CopyObject,
    DestroyObject,
    GetAttributeValue,
    SetAttributeValue,
    GetObjectSize,
    FindInit,
    Find,
    FindFinal,
    GenerateKey,
    GenerateKeyPair,
    CryptoInit,
    OneShot,
    Update,
    Final,
    DigestKey,
    WrapKey,
    UnwrapKey,
    DeriveKey,
    Random,
    SlotsAndTokens,
    OperationState,
    Pins,
}

pub const OPS: u8 = Op::Pins as u8 + 1;

/// A gate byte at least this follows the opcode of an expensive call.
pub const GATE: u8 = 0xC0;

impl Op {
    /// Calls after which the harness must check a PIN again to put the module back
    /// (a PBKDF2 of 210,000 iterations on a software instance: tens of ms, where most
    /// programs take well under one). They run only when the byte after the opcode is
    /// at least [`GATE`], so random inputs try them a quarter as often.
    pub fn expensive(self) -> bool {
        matches!(
            self,
            Op::Login | Op::Logout | Op::CloseAllSessions | Op::Pins
        )
    }
}

const ALL: [Op; OPS as usize] = [
    Op::OpenSession,
    Op::CloseSession,
    Op::CloseAllSessions,
    Op::Login,
    Op::Logout,
    Op::SessionInfo,
    Op::CreateObject,
    Op::CopyObject,
    Op::DestroyObject,
    Op::GetAttributeValue,
    Op::SetAttributeValue,
    Op::GetObjectSize,
    Op::FindInit,
    Op::Find,
    Op::FindFinal,
    Op::GenerateKey,
    Op::GenerateKeyPair,
    Op::CryptoInit,
    Op::OneShot,
    Op::Update,
    Op::Final,
    Op::DigestKey,
    Op::WrapKey,
    Op::UnwrapKey,
    Op::DeriveKey,
    Op::Random,
    Op::SlotsAndTokens,
    Op::OperationState,
    Op::Pins,
];

/// Calls through the module's function list.
macro_rules! p11 {
    ($f:expr, $name:ident($($a:expr),* $(,)?)) => {
        {
            let rv = match $f.$name {
                // SAFETY: every pointer passed is NULL or points into memory this harness
                // owns for the whole call, holding at least the length passed with it.
                Some(func) => unsafe { func($($a),*) },
                None => CKR_FUNCTION_NOT_SUPPORTED,
            };
            if $crate::tracing() {
                eprintln!("{} -> {:#x}", stringify!($name), rv);
            }
            rv
        }
    };
}
pub(crate) use p11;

/// What a process keeps between programs: the module, its slot, a logged-in anchor
/// session no program sees (so most programs start logged in without paying for a
/// PIN check), and the fixture keys programs may use but never change.
pub struct Ctx {
    pub f: &'static CK_FUNCTION_LIST,
    pub slot: CK_SLOT_ID,
    pub anchor: CK_SESSION_HANDLE,
    pub fixtures: Vec<CK_OBJECT_HANDLE>,
    /// The EC fixture's CKA_EC_POINT, offered as ECDH public data.
    pub ec_point: Vec<u8>,
    pub user_pin: Vec<u8>,
    pub so_pin: Vec<u8>,
}

struct Prog<'c, 'i> {
    c: &'c mut Ctx,
    i: Input<'i>,
    sessions: Vec<CK_SESSION_HANDLE>,
    /// Handles of objects this program made or found (never a fixture).
    objs: Vec<CK_OBJECT_HANDLE>,
    /// Objects to destroy at the end.
    made: Vec<CK_OBJECT_HANDLE>,
    /// The last output (ciphertext, signature, wrapped key), fed back as input.
    last: Vec<u8>,
    wrong_user: u32,
    wrong_so: u32,
}

/// Runs one program. `Err` is a broken contract seen from the caller's side (a write
/// past a buffer, a length larger than the buffer with CKR_OK) or a module the
/// harness cannot put back: the harness aborts on it, so AFL records a crash.
pub fn run(c: &mut Ctx, data: &[u8]) -> Result<(), String> {
    let mut s0 = 0;
    p11!(
        c.f,
        C_OpenSession(
            c.slot,
            CKF_SERIAL_SESSION | CKF_RW_SESSION,
            std::ptr::null_mut(),
            None,
            &mut s0
        )
    );
    let mut p = Prog {
        c,
        i: Input::new(data),
        sessions: vec![s0],
        objs: Vec::new(),
        made: Vec::new(),
        last: Vec::new(),
        wrong_user: 0,
        wrong_so: 0,
    };
    let mut out = Ok(());
    for _ in 0..MAX_STEPS {
        if p.i.done() {
            break;
        }
        let mut op = ALL
            .get(usize::from(p.i.byte() % OPS))
            .copied()
            .unwrap_or(Op::SessionInfo);
        if op.expensive() && p.i.byte() < GATE {
            op = Op::SessionInfo;
        }
        if let Err(e) = p.step(op) {
            out = Err(format!("{op:?}: {e}"));
            break;
        }
    }
    p.finish().and(out)
}

impl Prog<'_, '_> {
    fn f(&self) -> &'static CK_FUNCTION_LIST {
        self.c.f
    }

    /// A session handle: one of the program's, or a bad one.
    fn sess(&mut self) -> CK_SESSION_HANDLE {
        let s = self.i.byte();
        match s {
            0xF8 => 0,
            0xF9 => 0xFFFF_FFFF,
            0xFA => CK_ULONG::MAX,
            0xFB..=0xFF => CK_ULONG::from(self.i.u32()),
            _ if self.sessions.is_empty() => 1,
            _ => self
                .sessions
                .get(usize::from(s) % self.sessions.len())
                .copied()
                .unwrap_or(0),
        }
    }

    /// An object handle a call may only read or use: a fixture, the program's own,
    /// or a bad one.
    fn obj(&mut self) -> CK_OBJECT_HANDLE {
        let s = self.i.byte();
        if s >= 0x80 {
            return self.any_obj_from(s);
        }
        let fixtures = &self.c.fixtures;
        fixtures
            .get(usize::from(s) % fixtures.len().max(1))
            .copied()
            .unwrap_or(0)
    }

    /// An object handle a call may change or destroy: the program's own, or a bad one.
    fn own_obj(&mut self) -> CK_OBJECT_HANDLE {
        let s = self.i.byte();
        self.own_obj_from(s)
    }

    fn own_obj_from(&mut self, s: u8) -> CK_OBJECT_HANDLE {
        let h = self.any_obj_from(s);
        // A raw number may be a fixture's handle (they are small integers): such a
        // call would change a fixture for every later program.
        if self.c.fixtures.contains(&h) {
            return 0;
        }
        h
    }

    fn any_obj_from(&mut self, s: u8) -> CK_OBJECT_HANDLE {
        match s {
            0xF8 => 0,
            0xF9 => CK_ULONG::MAX,
            0xFA..=0xFF => CK_ULONG::from(self.i.u32()),
            _ if self.objs.is_empty() => 0,
            _ => self
                .objs
                .get(usize::from(s) % self.objs.len())
                .copied()
                .unwrap_or(0),
        }
    }

    fn made(&mut self, h: CK_OBJECT_HANDLE) {
        self.objs.push(h);
        self.made.push(h);
    }

    fn mech(&mut self) -> Mech {
        Mech::read(&mut self.i, &self.c.ec_point)
    }

    /// A PIN and whether it is the right one for `user_type`, within the budget of
    /// wrong ones.
    fn pin(&mut self, user_type: CK_USER_TYPE) -> (Option<Vec<u8>>, CK_ULONG) {
        let right = if user_type == CKU_SO {
            self.c.so_pin.clone()
        } else {
            self.c.user_pin.clone()
        };
        let (pin, len) = match self.i.byte() % 6 {
            0 | 1 => (Some(self.c.user_pin.clone()), 0),
            2 => (Some(self.c.so_pin.clone()), 0),
            3 => (None, 0),
            4 => (None, self.i.size().max(1) as CK_ULONG),
            _ => (Some(self.i.blob()), 0),
        };
        if pin.as_ref() == Some(&right) {
            let n = right.len() as CK_ULONG;
            return (Some(right), n);
        }
        let budget = if user_type == CKU_SO {
            &mut self.wrong_so
        } else {
            &mut self.wrong_user
        };
        if *budget >= WRONG_PIN_BUDGET {
            let n = right.len() as CK_ULONG;
            return (Some(right), n);
        }
        *budget += 1;
        match pin {
            Some(v) => {
                let n = v.len() as CK_ULONG;
                (Some(v), n)
            }
            None => (None, len),
        }
    }

    fn step(&mut self, op: Op) -> Result<(), String> {
        let f = self.f();

        match op {
            Op::OpenSession => {
                let fl = self.i.byte();
                let mut flags = 0;
                if fl & 1 == 0 {
                    flags |= CKF_SERIAL_SESSION;
                }
                if fl & 2 == 0 {
                    flags |= CKF_RW_SESSION;
                }
                if fl & 0x40 != 0 {
                    flags |= ulong(&mut self.i);
                }
                let slot = if fl & 4 != 0 {
                    ulong(&mut self.i)
                } else {
                    self.c.slot
                };
                let mut h = 0;
                let out = if fl & 8 != 0 {
                    null()
                } else {
                    &mut h as *mut _
                };
                if p11!(f, C_OpenSession(slot, flags, null(), None, out)) == CKR_OK {
                    self.sessions.push(h);
                }
            }
            Op::CloseSession => {
                let s = self.sess();
                if p11!(f, C_CloseSession(s)) == CKR_OK {
                    self.sessions.retain(|x| *x != s);
                }
            }
            Op::CloseAllSessions => {
                let slot = if self.i.one_in(4) {
                    ulong(&mut self.i)
                } else {
                    self.c.slot
                };
                if p11!(f, C_CloseAllSessions(slot)) == CKR_OK {
                    self.sessions.clear();
                }
            }
            Op::Login => {
                let s = self.sess();
                let t = match self.i.byte() % 5 {
                    0 | 1 => CKU_USER,
                    2 => CKU_SO,
                    3 => CKU_CONTEXT_SPECIFIC,
                    _ => ulong(&mut self.i),
                };
                let (mut pin, len) = self.pin(t);
                let ptr = pin.as_mut().map_or(null(), Vec::as_mut_ptr);
                if p11!(f, C_Login(s, t, ptr, len)) == CKR_OK {
                    crate::fixtures::refresh(self.c);
                }
            }
            Op::Logout => {
                let s = self.sess();
                p11!(f, C_Logout(s));
            }
            Op::SessionInfo => {
                let s = self.sess();
                let mut info = CK_SESSION_INFO {
                    slotID: 0,
                    state: 0,
                    flags: 0,
                    ulDeviceError: 0,
                };
                let out = if self.i.one_in(4) {
                    null()
                } else {
                    &mut info as *mut _
                };
                p11!(f, C_GetSessionInfo(s, out));
            }
            Op::CreateObject => {
                let s = self.sess();
                let mut t = Template::read(&mut self.i);
                let mut h = 0;
                if p11!(f, C_CreateObject(s, t.ptr(), t.count(), &mut h)) == CKR_OK {
                    self.made(h);
                }
            }
            Op::CopyObject => {
                let s = self.sess();
                let o = self.obj();
                let mut t = Template::read(&mut self.i);
                let mut h = 0;
                if p11!(f, C_CopyObject(s, o, t.ptr(), t.count(), &mut h)) == CKR_OK {
                    self.made(h);
                }
            }
            Op::DestroyObject => {
                let s = self.sess();
                let o = self.own_obj();
                if p11!(f, C_DestroyObject(s, o)) == CKR_OK {
                    self.objs.retain(|x| *x != o);
                    self.made.retain(|x| *x != o);
                }
            }
            Op::GetAttributeValue => {
                let s = self.sess();
                let o = self.obj();
                let mut q = AttrQuery::read(&mut self.i);
                let rv = p11!(f, C_GetAttributeValue(s, o, q.ptr(), q.count()));
                q.check(rv)?;
            }
            Op::SetAttributeValue => {
                let s = self.sess();
                let o = self.own_obj();
                let mut t = Template::read(&mut self.i);
                p11!(f, C_SetAttributeValue(s, o, t.ptr(), t.count()));
            }
            Op::GetObjectSize => {
                let s = self.sess();
                let o = self.obj();
                let mut n: CK_ULONG = 0;
                let out = if self.i.one_in(4) {
                    null()
                } else {
                    &mut n as *mut _
                };
                p11!(f, C_GetObjectSize(s, o, out));
            }
            Op::FindInit => {
                let s = self.sess();
                let mut t = Template::read(&mut self.i);
                p11!(f, C_FindObjectsInit(s, t.ptr(), t.count()));
            }
            Op::Find => {
                let s = self.sess();
                let b = self.i.byte();
                let max = usize::from(b % 32);
                let mut found = vec![0 as CK_OBJECT_HANDLE; max.max(1)];
                let mut n: CK_ULONG = 0;
                let list = if b >= 0xF0 {
                    null()
                } else {
                    found.as_mut_ptr()
                };
                let count = if b == 0xEF { null() } else { &mut n as *mut _ };
                let rv = p11!(f, C_FindObjects(s, list, max as CK_ULONG, count));
                if rv == CKR_OK && !list.is_null() && !count.is_null() {
                    if n as usize > max {
                        return Err(format!(
                            "C_FindObjects returned {n} handles for room for {max}"
                        ));
                    }
                    for h in found.into_iter().take(n as usize) {
                        if !self.c.fixtures.contains(&h) && !self.objs.contains(&h) {
                            self.objs.push(h);
                        }
                    }
                }
            }
            Op::FindFinal => {
                let s = self.sess();
                p11!(f, C_FindObjectsFinal(s));
            }
            Op::GenerateKey => {
                let s = self.sess();
                let mut m = self.mech();
                let mut t = Template::read(&mut self.i);
                let mut h = 0;
                if p11!(f, C_GenerateKey(s, m.ptr(), t.ptr(), t.count(), &mut h)) == CKR_OK {
                    self.made(h);
                }
            }
            Op::GenerateKeyPair => {
                let s = self.sess();
                let mut m = self.mech();
                let mut pubt = Template::read(&mut self.i);
                let mut privt = Template::read(&mut self.i);
                let (mut a, mut b) = (0, 0);
                let rv = p11!(
                    f,
                    C_GenerateKeyPair(
                        s,
                        m.ptr(),
                        pubt.ptr(),
                        pubt.count(),
                        privt.ptr(),
                        privt.count(),
                        &mut a,
                        &mut b
                    )
                );
                if rv == CKR_OK {
                    self.made(a);
                    self.made(b);
                }
            }
            Op::CryptoInit => self.crypto_init()?,
            Op::OneShot => self.one_shot()?,
            Op::Update => self.update()?,
            Op::Final => self.finalize()?,
            Op::DigestKey => {
                let s = self.sess();
                let o = self.obj();
                p11!(f, C_DigestKey(s, o));
            }
            Op::WrapKey => {
                let s = self.sess();
                let mut m = self.mech();
                let (wk, k) = (self.obj(), self.obj());
                let mut out = Out::read(&mut self.i);
                let rv = p11!(f, C_WrapKey(s, m.ptr(), wk, k, out.ptr(), out.len_ptr()));
                if let Some(v) = out.check("C_WrapKey", rv)? {
                    self.last = v;
                }
            }
            Op::UnwrapKey => {
                let s = self.sess();
                let mut m = self.mech();
                let uk = self.obj();
                let mut blob = In::read(&mut self.i, &self.last);
                let mut t = Template::read(&mut self.i);
                let mut h = 0;
                let rv = p11!(
                    f,
                    C_UnwrapKey(
                        s,
                        m.ptr(),
                        uk,
                        blob.ptr(),
                        blob.size(),
                        t.ptr(),
                        t.count(),
                        &mut h
                    )
                );
                if rv == CKR_OK {
                    self.made(h);
                }
            }
            Op::DeriveKey => {
                let s = self.sess();
                let mut m = self.mech();
                let base = self.obj();
                let mut t = Template::read(&mut self.i);
                let mut h = 0;
                if p11!(f, C_DeriveKey(s, m.ptr(), base, t.ptr(), t.count(), &mut h)) == CKR_OK {
                    self.made(h);
                }
            }
            Op::Random => {
                let s = self.sess();
                let sel = self.i.byte();
                if sel.is_multiple_of(4) {
                    let mut seed = In::read(&mut self.i, &self.last);
                    p11!(f, C_SeedRandom(s, seed.ptr(), seed.size()));
                } else {
                    let n = self.i.size();
                    let mut buf = vec![0u8; n];
                    let ptr = if sel >= 0xF0 {
                        null()
                    } else {
                        buf.as_mut_ptr()
                    };
                    p11!(f, C_GenerateRandom(s, ptr, n as CK_ULONG));
                }
            }
            Op::SlotsAndTokens => crate::misc::slots_and_tokens(self.c, &mut self.i)?,
            Op::OperationState => {
                crate::misc::operation_state(self.c, &mut self.i, self.sessions.first().copied())?
            }
            Op::Pins => {
                let s = self.sess();
                if self.i.one_in(2) {
                    // Old and new the same: the PIN never changes, right or wrong.
                    let (mut pin, len) = self.pin(CKU_USER);
                    self.wrong_so = self.wrong_so.max(self.wrong_user);
                    let ptr = pin.as_mut().map_or(null(), Vec::as_mut_ptr);
                    p11!(f, C_SetPIN(s, ptr, len, ptr, len));
                } else if self.i.one_in(2) {
                    let mut pin = self.c.user_pin.clone();
                    p11!(f, C_InitPIN(s, pin.as_mut_ptr(), pin.len() as CK_ULONG));
                } else {
                    let n = self.i.size().max(1) as CK_ULONG;
                    p11!(f, C_InitPIN(s, null(), n));
                }
            }
        }
        Ok(())
    }

    /// Puts the module back: the anchor session open and logged in as the user (wrong
    /// PIN counters cleared by a right login), every object the program made
    /// destroyed, every session it opened closed.
    fn finish(&mut self) -> Result<(), String> {
        crate::misc::restore_anchor(self.c, self.wrong_user > 0, self.wrong_so > 0)?;
        let f = self.f();
        for h in std::mem::take(&mut self.made) {
            p11!(f, C_DestroyObject(self.c.anchor, h));
        }
        for s in std::mem::take(&mut self.sessions) {
            if s != self.c.anchor {
                p11!(f, C_CloseSession(s));
            }
        }
        Ok(())
    }
}

fn null<T>() -> *mut T {
    std::ptr::null_mut()
}
