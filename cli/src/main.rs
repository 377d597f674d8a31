//! `kmsbridge`: the admin tool. It is a PKCS#11 client of libkmsbridge.so itself,
//! never a back door around the module.

mod init;
mod module;
mod pin_hash;
mod quickstart;
mod slots;

const USAGE: &str = "usage: kmsbridge <command>

commands:
  quickstart [--keep]
                    run the main job through libkmsbridge.so: keys, encrypt/decrypt,
                    sign/verify, attributes, with timings. Without KMSBRIDGE_CONF it
                    makes a fresh software instance in a temporary directory with random
                    PINs (kept with --keep); with it, it uses the configured instance
                    (KMSBRIDGE_TOKEN_LABEL picks one) and KMSBRIDGE_USER_PIN or --pin
  slots             list the instances (slots) the module serves
  init [--slot N] [--label L] [--so-pin P] [--pin P]
                    initialise an instance's token (C_InitToken) and set its user PIN
                    (C_InitPIN); PINs also from KMSBRIDGE_SO_PIN / KMSBRIDGE_USER_PIN
  hash-pin [PIN]    print the salted slow hash of a PIN for the config file
                    (reads the PIN from standard input when not given)

environment:
  KMSBRIDGE_MODULE  path of libkmsbridge.so (default: next to this binary)
  KMSBRIDGE_CONF    the module's configuration file";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("quickstart") => quickstart::run(&args[1..]),
        Some("slots") => slots::run(),
        Some("init") => init::run(&args[1..]),
        Some("hash-pin") => pin_hash::run(&args[1..]),
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
        std::process::exit(1);
    }
}
