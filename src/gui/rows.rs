//! A list model for QML whose rows are plain Rust values: the host list, the failure
//! summary and the history each show one through named roles (`model.state`,
//! `model.exitCode`, ...), so QML binds to roles and parses nothing.
//!
//! The model keeps the rows it last showed and compares each new set with them: a row
//! that changed is announced with `dataChanged` (only its changed roles), rows added at
//! either end with `rowsInserted`, everything removed with `rowsRemoved`; a reset only when
//! the rows were reshuffled otherwise. So a view redraws the one host whose state moved,
//! not the whole list, on every batch of events.

#[cxx_qt::bridge]
pub mod qobject {
    unsafe extern "C++" {
        include!(<QtCore/QAbstractListModel>);
        type QAbstractListModel;

        include!("cxx-qt-lib/qhash.h");
        type QHash_i32_QByteArray = cxx_qt_lib::QHash<cxx_qt_lib::QHashPair_i32_QByteArray>;
        include!("cxx-qt-lib/qvariant.h");
        type QVariant = cxx_qt_lib::QVariant;
        include!("cxx-qt-lib/qmodelindex.h");
        type QModelIndex = cxx_qt_lib::QModelIndex;
        include!("cxx-qt-lib/qlist.h");
        type QList_i32 = cxx_qt_lib::QList<i32>;
    }

    #[auto_cxx_name]
    extern "RustQt" {
        #[qobject]
        #[base = QAbstractListModel]
        #[qproperty(i32, count)]
        type RowModel = super::RowModelRust;
    }

    extern "RustQt" {
        #[inherit]
        #[cxx_name = "beginInsertRows"]
        unsafe fn begin_insert_rows(
            self: Pin<&mut RowModel>,
            parent: &QModelIndex,
            first: i32,
            last: i32,
        );
        #[inherit]
        #[cxx_name = "endInsertRows"]
        unsafe fn end_insert_rows(self: Pin<&mut RowModel>);
        #[inherit]
        #[cxx_name = "beginRemoveRows"]
        unsafe fn begin_remove_rows(
            self: Pin<&mut RowModel>,
            parent: &QModelIndex,
            first: i32,
            last: i32,
        );
        #[inherit]
        #[cxx_name = "endRemoveRows"]
        unsafe fn end_remove_rows(self: Pin<&mut RowModel>);
        #[inherit]
        #[cxx_name = "beginResetModel"]
        unsafe fn begin_reset_model(self: Pin<&mut RowModel>);
        #[inherit]
        #[cxx_name = "endResetModel"]
        unsafe fn end_reset_model(self: Pin<&mut RowModel>);
    }

    unsafe extern "RustQt" {
        #[inherit]
        fn index(self: &RowModel, row: i32, column: i32, parent: &QModelIndex) -> QModelIndex;

        #[inherit]
        #[qsignal]
        #[cxx_name = "dataChanged"]
        fn data_changed(
            self: Pin<&mut RowModel>,
            top_left: &QModelIndex,
            bottom_right: &QModelIndex,
            roles: &QList_i32,
        );
    }

    unsafe extern "RustQt" {
        #[qinvokable]
        #[cxx_override]
        fn data(self: &RowModel, index: &QModelIndex, role: i32) -> QVariant;

        #[qinvokable]
        #[cxx_override]
        #[cxx_name = "roleNames"]
        fn role_names(self: &RowModel) -> QHash_i32_QByteArray;

        #[qinvokable]
        #[cxx_override]
        #[cxx_name = "rowCount"]
        fn row_count(self: &RowModel, parent: &QModelIndex) -> i32;
    }
}

use cxx_qt::CxxQtType;
use cxx_qt_lib::{
    QByteArray, QHash, QHashPair_i32_QByteArray, QList, QModelIndex, QString, QStringList, QVariant,
};
use std::pin::Pin;

/// The first role's number (`Qt::UserRole + 1`); role `i` of a row type is `FIRST_ROLE + i`.
pub const FIRST_ROLE: i32 = 0x0101;

/// One value of a row, as QML reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i32),
    Real(f64),
    Bool(bool),
    /// A list of words (a JavaScript array in QML).
    List(Vec<String>),
}

impl Cell {
    fn to_variant(&self) -> QVariant {
        match self {
            Cell::Text(s) => QVariant::from(&QString::from(s.as_str())),
            Cell::Int(n) => QVariant::from(n),
            Cell::Real(x) => QVariant::from(x),
            Cell::Bool(b) => QVariant::from(b),
            Cell::List(items) => {
                let mut list = QStringList::default();
                for s in items {
                    list.append(QString::from(s.as_str()));
                }
                QVariant::from(&list)
            }
        }
    }
}

/// A value the window lists: its role names, and its values in that order.
pub trait Row {
    const ROLES: &'static [&'static str];
    fn cells(&self) -> Vec<Cell>;
}

#[derive(Default)]
pub struct RowModelRust {
    count: i32,
    roles: &'static [&'static str],
    rows: Vec<Vec<Cell>>,
}

impl qobject::RowModel {
    /// Shows these rows, announcing only what differs from the rows shown before.
    pub fn show<R: Row>(mut self: Pin<&mut Self>, rows: &[R]) {
        if !std::ptr::eq(self.rust().roles, R::ROLES) && self.rust().roles != R::ROLES {
            // SAFETY: a reset brackets a change of every row and role.
            unsafe { self.as_mut().begin_reset_model() };
            let mut rust = self.as_mut().rust_mut();
            rust.roles = R::ROLES;
            rust.rows.clear();
            unsafe { self.as_mut().end_reset_model() };
        }
        self.as_mut().replace(rows.iter().map(Row::cells).collect());
    }

    fn replace(mut self: Pin<&mut Self>, new: Vec<Vec<Cell>>) {
        let old_len = self.rust().rows.len();
        let new_len = new.len();
        if new_len == old_len {
            self.as_mut().update_rows(new);
        } else if new_len > old_len && new[new_len - old_len..] == self.rust().rows[..] {
            let added = (new_len - old_len) as i32;
            // SAFETY: rows 0..added are inserted before the existing ones, then announced.
            unsafe {
                self.as_mut()
                    .begin_insert_rows(&QModelIndex::default(), 0, added - 1)
            };
            self.as_mut().rust_mut().rows = new;
            unsafe { self.as_mut().end_insert_rows() };
        } else if new_len > old_len && new[..old_len] == self.rust().rows[..] {
            // SAFETY: the new rows are appended after the last one, then announced.
            unsafe {
                self.as_mut().begin_insert_rows(
                    &QModelIndex::default(),
                    old_len as i32,
                    new_len as i32 - 1,
                )
            };
            self.as_mut().rust_mut().rows = new;
            unsafe { self.as_mut().end_insert_rows() };
        } else if new_len == 0 {
            // SAFETY: rows 0..old_len exist and are all removed.
            unsafe {
                self.as_mut()
                    .begin_remove_rows(&QModelIndex::default(), 0, old_len as i32 - 1)
            };
            self.as_mut().rust_mut().rows.clear();
            unsafe { self.as_mut().end_remove_rows() };
        } else {
            // SAFETY: a reset brackets a change of every row.
            unsafe { self.as_mut().begin_reset_model() };
            self.as_mut().rust_mut().rows = new;
            unsafe { self.as_mut().end_reset_model() };
        }
        if self.rust().count != new_len as i32 {
            self.set_count(new_len as i32);
        }
    }

    /// Same number of rows: each row that differs is announced with the roles that did.
    fn update_rows(mut self: Pin<&mut Self>, new: Vec<Vec<Cell>>) {
        let changed: Vec<(usize, Vec<i32>)> = new
            .iter()
            .zip(&self.rust().rows)
            .enumerate()
            .filter_map(|(i, (n, o))| {
                let roles: Vec<i32> = (0..n.len().max(o.len()))
                    .filter(|&r| n.get(r) != o.get(r))
                    .map(|r| FIRST_ROLE + r as i32)
                    .collect();
                (!roles.is_empty()).then_some((i, roles))
            })
            .collect();
        self.as_mut().rust_mut().rows = new;
        for (row, roles) in changed {
            let index = self.index(row as i32, 0, &QModelIndex::default());
            let mut list = QList::<i32>::default();
            for r in roles {
                list.append(r);
            }
            self.as_mut().data_changed(&index, &index, &list);
        }
    }

    /// The role's number for a name, as QML would ask for it (tests).
    pub fn role(&self, name: &str) -> Option<i32> {
        self.rust()
            .roles
            .iter()
            .position(|r| *r == name)
            .map(|i| FIRST_ROLE + i as i32)
    }

    /// A row's value for a role name (tests and scripts).
    pub fn value(&self, row: usize, name: &str) -> Option<&Cell> {
        let role = self.rust().roles.iter().position(|r| *r == name)?;
        self.rust().rows.get(row)?.get(role)
    }

    /// The number of rows (tests and scripts).
    pub fn len(&self) -> usize {
        self.rust().rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rust().rows.is_empty()
    }

    pub fn data(&self, index: &QModelIndex, role: i32) -> QVariant {
        usize::try_from(index.row())
            .ok()
            .and_then(|r| self.rust().rows.get(r))
            .zip(usize::try_from(role - FIRST_ROLE).ok())
            .and_then(|(row, i)| row.get(i))
            .map_or_else(QVariant::default, Cell::to_variant)
    }

    pub fn role_names(&self) -> QHash<QHashPair_i32_QByteArray> {
        let mut names = QHash::<QHashPair_i32_QByteArray>::default();
        for (i, name) in self.rust().roles.iter().enumerate() {
            names.insert(FIRST_ROLE + i as i32, QByteArray::from(*name));
        }
        names
    }

    pub fn row_count(&self, parent: &QModelIndex) -> i32 {
        if parent.is_valid() {
            0
        } else {
            self.rust().rows.len() as i32
        }
    }
}
