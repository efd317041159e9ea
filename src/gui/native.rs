//! The few Qt calls cxx-qt-lib does not bind, declared against `native.h`: opening a
//! file with the desktop's default application (QDesktopServices, no shell involved),
//! leaving the event loop, setting the application's icon, and creating a backend object
//! from Rust, which tests and the benchmark use without QML.

#[cxx_qt::bridge]
pub mod ffi {
    unsafe extern "C++" {
        include!("wbackup/src/gui/native.h");
        include!("cxx-qt-lib/qstring.h");
        type QString = cxx_qt_lib::QString;
        type Backend = crate::gui::bridge::qobject::Backend;

        #[cxx_name = "wbackup_open_local_file"]
        fn open_local_file(path: &QString) -> bool;

        #[cxx_name = "wbackup_quit_application"]
        fn quit_application();

        #[cxx_name = "wbackup_set_window_icon"]
        fn set_window_icon() -> bool;

        #[cxx_name = "wbackup_new_backend"]
        fn new_backend() -> UniquePtr<Backend>;
    }

    impl UniquePtr<Backend> {}
}

/// Opens `path` with the desktop's default application for its type.
pub fn open_local_file(path: &std::path::Path) -> bool {
    ffi::open_local_file(&cxx_qt_lib::QString::from(&*path.to_string_lossy()))
}

pub use ffi::{new_backend, quit_application, set_window_icon};
