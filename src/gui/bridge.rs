//! The cxx-qt bridge: the QObject the QML window binds to. (Placeholder until the
//! window lands; it keeps the Qt toolchain exercised from the first commit.)

#[cxx_qt::bridge]
pub mod qobject {
    unsafe extern "C++" {
        include!("cxx-qt-lib/qstring.h");
        type QString = cxx_qt_lib::QString;
    }

    extern "RustQt" {
        #[qobject]
        #[qml_element]
        #[qproperty(QString, status)]
        type Backend = super::BackendRust;
    }
}

use cxx_qt_lib::QString;

#[derive(Default)]
pub struct BackendRust {
    status: QString,
}
