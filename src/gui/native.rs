//! The few Qt calls cxx-qt-lib does not bind, declared against `native.h`: opening a
//! file with the desktop's default application (QDesktopServices, no shell involved),
//! leaving the event loop, setting the application's icon and its light or dark palette, creating a backend object and
//! its list models from Rust (tests and the benchmark use a backend without QML), and
//! finding the backend of a window QML created.

#[cxx_qt::bridge]
pub mod ffi {
    unsafe extern "C++" {
        include!("wbackup/src/gui/native.h");
        include!("cxx-qt-lib/qstring.h");
        type QString = cxx_qt_lib::QString;
        include!("cxx-qt-lib/qqmlapplicationengine.h");
        type QQmlApplicationEngine = cxx_qt_lib::QQmlApplicationEngine;
        type Backend = crate::gui::bridge::qobject::Backend;
        type RowModel = crate::gui::rows::qobject::RowModel;

        #[cxx_name = "wbackup_open_local_file"]
        fn open_local_file(path: &QString) -> bool;

        #[cxx_name = "wbackup_quit_application"]
        fn quit_application();

        #[cxx_name = "wbackup_set_window_icon"]
        fn set_window_icon() -> bool;

        #[cxx_name = "wbackup_set_palette"]
        fn set_palette(dark: bool) -> bool;

        #[cxx_name = "wbackup_new_backend"]
        fn new_backend() -> UniquePtr<Backend>;

        #[cxx_name = "wbackup_new_row_model"]
        fn new_row_model() -> UniquePtr<RowModel>;

        #[cxx_name = "wbackup_window_backend"]
        fn window_backend_ptr(engine: &QQmlApplicationEngine) -> *mut Backend;
    }

    impl UniquePtr<Backend> {}
    impl UniquePtr<RowModel> {}
}

/// Opens `path` with the desktop's default application for its type.
pub fn open_local_file(path: &std::path::Path) -> bool {
    ffi::open_local_file(&cxx_qt_lib::QString::from(&*path.to_string_lossy()))
}

/// The backend of the window `engine` loaded, to queue work on its Qt thread (the
/// screenshot script, the benchmark and the window tests feed it events this way).
pub fn window_backend(
    engine: &cxx_qt_lib::QQmlApplicationEngine,
) -> Option<cxx_qt::CxxQtThread<crate::gui::bridge::qobject::Backend>> {
    // SAFETY: the pointer is null or a live QObject owned by the engine's window; it is
    // used at once, on the Qt thread, only to get its thread handle.
    unsafe { ffi::window_backend_ptr(engine).as_ref() }.map(cxx_qt::Threading::qt_thread)
}

pub use ffi::{new_backend, new_row_model, quit_application, set_palette, set_window_icon};
