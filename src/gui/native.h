// Small C++ helpers the Rust side cannot reach through cxx-qt-lib: opening a file with
// the desktop's default application, and creating the backend without QML (tests and
// the benchmark).
#pragma once

#include <QtCore/QString>
#include <QtCore/QUrl>
#include <QtGui/QDesktopServices>
#include <memory>

#include "wbackup/src/gui/bridge.cxxqt.h"

inline bool
wbackup_open_local_file(const QString& path)
{
  return QDesktopServices::openUrl(QUrl::fromLocalFile(path));
}

inline std::unique_ptr<Backend>
wbackup_new_backend()
{
  return std::make_unique<Backend>();
}
