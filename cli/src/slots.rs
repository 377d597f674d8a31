//! `kmsbridge slots`: the instances the module serves.

use crate::module::{load, Error};

pub fn run() -> Result<(), Error> {
    let p11 = load()?;
    for slot in p11.get_all_slots()? {
        let t = p11.get_token_info(slot)?;
        println!(
            "slot {:>3}  {:<32} serial {:<16} model {}",
            slot.id(),
            t.label(),
            t.serial_number(),
            t.model()
        );
    }
    Ok(())
}
