//! The calls about slots, tokens and operation state, and the harness's own steps:
//! starting a process's context and putting the anchor session back.

use crate::exec::{p11, Ctx};
use crate::input::Input;
use crate::values::{ulong, In, Out};
use cryptoki_sys::*;

/// C_GetSlotList, C_GetSlotInfo, C_GetTokenInfo, C_GetMechanismList,
/// C_GetMechanismInfo, C_GetInfo, C_Initialize (already initialised),
/// C_GetFunctionStatus, C_CancelFunction and C_WaitForSlotEvent (never blocking).
pub fn slots_and_tokens(c: &mut Ctx, i: &mut Input) -> Result<(), String> {
    let f = c.f;

    let sel = i.byte();
    let slot = if sel >= 0xC0 { ulong(i) } else { c.slot };
    match sel % 10 {
        0 => {
            let present = i.byte() % 2;
            let room = usize::from(i.byte() % 4);
            let mut list = vec![0 as CK_SLOT_ID; room.max(1)];
            let mut n = room as CK_ULONG;
            let lp = if room == 0 { null() } else { list.as_mut_ptr() };
            let rv = p11!(f, C_GetSlotList(present, lp, &mut n));
            if rv == CKR_OK && !lp.is_null() && n as usize > room {
                return Err(format!(
                    "C_GetSlotList returned {n} slots for room for {room}"
                ));
            }
        }
        1 => {
            let mut info = blank_slot_info();
            p11!(
                f,
                C_GetSlotInfo(slot, if i.one_in(4) { null() } else { &mut info })
            );
        }
        2 => {
            let mut info = blank_token_info();
            p11!(
                f,
                C_GetTokenInfo(slot, if i.one_in(4) { null() } else { &mut info })
            );
        }
        3 => {
            let room = usize::from(i.byte());
            let mut list = vec![0 as CK_MECHANISM_TYPE; room.max(1)];
            let mut n = room as CK_ULONG;
            let lp = if room == 0 { null() } else { list.as_mut_ptr() };
            let rv = p11!(f, C_GetMechanismList(slot, lp, &mut n));
            if rv == CKR_OK && !lp.is_null() && n as usize > room {
                return Err(format!(
                    "C_GetMechanismList returned {n} for room for {room}"
                ));
            }
        }
        4 => {
            let s = i.byte();
            let ty = if s < 0xE0 {
                crate::values::MECHS
                    .get(usize::from(s) % crate::values::MECHS.len())
                    .copied()
                    .unwrap_or(0)
            } else {
                ulong(i)
            };
            let mut info = CK_MECHANISM_INFO {
                ulMinKeySize: 0,
                ulMaxKeySize: 0,
                flags: 0,
            };
            p11!(
                f,
                C_GetMechanismInfo(slot, ty, if i.one_in(4) { null() } else { &mut info })
            );
        }
        5 => {
            let mut info = CK_INFO {
                cryptokiVersion: CK_VERSION { major: 0, minor: 0 },
                manufacturerID: [0; 32],
                flags: 0,
                libraryDescription: [0; 32],
                libraryVersion: CK_VERSION { major: 0, minor: 0 },
            };
            p11!(f, C_GetInfo(if i.one_in(4) { null() } else { &mut info }));
        }
        6 => {
            let mut args = CK_C_INITIALIZE_ARGS {
                CreateMutex: None,
                DestroyMutex: None,
                LockMutex: None,
                UnlockMutex: None,
                flags: ulong(i),
                pReserved: null(),
            };
            let p = if i.one_in(2) {
                null()
            } else {
                &mut args as *mut _ as *mut std::ffi::c_void
            };
            p11!(f, C_Initialize(p));
        }
        7 => {
            let s = CK_ULONG::from(i.byte());
            p11!(f, C_GetFunctionStatus(s));
            p11!(f, C_CancelFunction(s));
        }
        8 => {
            let mut sl = 0;
            p11!(f, C_WaitForSlotEvent(CKF_DONT_BLOCK, &mut sl, null()));
        }
        _ => {
            let mut list: *mut CK_FUNCTION_LIST = null();
            p11!(
                f,
                C_GetFunctionList(if i.one_in(2) { null() } else { &mut list })
            );
        }
    }
    Ok(())
}

/// C_GetOperationState / C_SetOperationState and the dual-function updates.
pub fn operation_state(
    c: &mut Ctx,
    i: &mut Input,
    s0: Option<CK_SESSION_HANDLE>,
) -> Result<(), String> {
    let f = c.f;
    let s = if i.one_in(4) {
        CK_ULONG::from(i.byte())
    } else {
        s0.unwrap_or(0)
    };
    let mut data = In::read(i, &[]);
    let mut out = Out::read(i);
    let (dp, dl, op, ol) = (data.ptr(), data.size(), out.ptr(), out.len_ptr());
    let (name, rv) = match i.byte() % 6 {
        0 => (
            "C_GetOperationState",
            p11!(f, C_GetOperationState(s, op, ol)),
        ),
        1 => (
            "C_SetOperationState",
            p11!(f, C_SetOperationState(s, dp, dl, 0, 0)),
        ),
        2 => (
            "C_DigestEncryptUpdate",
            p11!(f, C_DigestEncryptUpdate(s, dp, dl, op, ol)),
        ),
        3 => (
            "C_DecryptDigestUpdate",
            p11!(f, C_DecryptDigestUpdate(s, dp, dl, op, ol)),
        ),
        4 => (
            "C_SignEncryptUpdate",
            p11!(f, C_SignEncryptUpdate(s, dp, dl, op, ol)),
        ),
        _ => (
            "C_DecryptVerifyUpdate",
            p11!(f, C_DecryptVerifyUpdate(s, dp, dl, op, ol)),
        ),
    };
    out.check(name, rv)?;
    Ok(())
}

fn blank_slot_info() -> CK_SLOT_INFO {
    CK_SLOT_INFO {
        slotDescription: [0; 64],
        manufacturerID: [0; 32],
        flags: 0,
        hardwareVersion: CK_VERSION { major: 0, minor: 0 },
        firmwareVersion: CK_VERSION { major: 0, minor: 0 },
    }
}

fn blank_token_info() -> CK_TOKEN_INFO {
    let v = CK_VERSION { major: 0, minor: 0 };
    CK_TOKEN_INFO {
        label: [0; 32],
        manufacturerID: [0; 32],
        model: [0; 16],
        serialNumber: [0; 16],
        flags: 0,
        ulMaxSessionCount: 0,
        ulSessionCount: 0,
        ulMaxRwSessionCount: 0,
        ulRwSessionCount: 0,
        ulMaxPinLen: 0,
        ulMinPinLen: 0,
        ulTotalPublicMemory: 0,
        ulFreePublicMemory: 0,
        ulTotalPrivateMemory: 0,
        ulFreePrivateMemory: 0,
        hardwareVersion: v,
        firmwareVersion: v,
        utcTime: [0; 16],
    }
}

fn login(c: &Ctx, user_type: CK_USER_TYPE) -> CK_RV {
    let mut pin = if user_type == CKU_SO {
        c.so_pin.clone()
    } else {
        c.user_pin.clone()
    };
    p11!(
        c.f,
        C_Login(c.anchor, user_type, pin.as_mut_ptr(), pin.len() as CK_ULONG)
    )
}

/// The anchor session open, R/W, logged in as the user; after wrong PINs, the roles
/// that had them logged in once rightly, which clears their counters.
pub fn restore_anchor(c: &mut Ctx, wrong_user: bool, wrong_so: bool) -> Result<(), String> {
    let f = c.f;
    let mut info = CK_SESSION_INFO {
        slotID: 0,
        state: 0,
        flags: 0,
        ulDeviceError: 0,
    };
    if p11!(f, C_GetSessionInfo(c.anchor, &mut info)) != CKR_OK {
        let mut h = 0;
        let rv = p11!(
            f,
            C_OpenSession(
                c.slot,
                CKF_SERIAL_SESSION | CKF_RW_SESSION,
                std::ptr::null_mut(),
                None,
                &mut h
            )
        );
        if rv != CKR_OK {
            return Err(format!(
                "harness: cannot open the anchor session again: {rv:#x}"
            ));
        }
        c.anchor = h;
        // The token's login state outlives the anchor while a program session is open.
        if p11!(f, C_GetSessionInfo(c.anchor, &mut info)) != CKR_OK {
            info.state = CKS_RW_PUBLIC_SESSION;
        }
    }
    let mut user = info.state == CKS_RW_USER_FUNCTIONS;
    if wrong_so {
        if user || info.state == CKS_RW_SO_FUNCTIONS {
            p11!(f, C_Logout(c.anchor));
        }
        // Other sessions (read-only ones) may still be open: close them all first.
        p11!(f, C_CloseAllSessions(c.slot));
        start_anchor(c)?;
        crate::fixtures::refresh(c);
        return Ok(());
    }
    if info.state == CKS_RW_SO_FUNCTIONS || (user && wrong_user) {
        p11!(f, C_Logout(c.anchor));
        user = false;
    }
    if !user {
        let rv = login(c, CKU_USER);
        if rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN {
            return Err(format!("harness: cannot log the anchor in again: {rv:#x}"));
        }
        // The private fixtures have new handles after a logout.
        crate::fixtures::refresh(c);
    }
    Ok(())
}

/// A fresh anchor: no session of the slot open before. The SO logs in and out once
/// (clearing its wrong-PIN counter), then the user logs in.
pub fn start_anchor(c: &mut Ctx) -> Result<(), String> {
    let f = c.f;
    let mut h = 0;
    let rv = p11!(
        f,
        C_OpenSession(
            c.slot,
            CKF_SERIAL_SESSION | CKF_RW_SESSION,
            std::ptr::null_mut(),
            None,
            &mut h
        )
    );
    if rv != CKR_OK {
        return Err(format!("harness: cannot open the anchor session: {rv:#x}"));
    }
    c.anchor = h;
    let rv = login(c, CKU_SO);
    if rv != CKR_OK {
        return Err(format!("harness: the SO cannot log in: {rv:#x}"));
    }
    p11!(f, C_Logout(c.anchor));
    let rv = login(c, CKU_USER);
    if rv != CKR_OK {
        return Err(format!("harness: the user cannot log in: {rv:#x}"));
    }
    Ok(())
}

fn null<T>() -> *mut T {
    std::ptr::null_mut()
}
