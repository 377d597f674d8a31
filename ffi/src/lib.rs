//! libkmsbridge
