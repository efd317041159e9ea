// Small C++ helpers the Rust side cannot reach through cxx-qt-lib: opening a file with
// the desktop's default application, leaving the event loop, the application's icon,
// creating the backend and its list models from Rust, and finding the backend a loaded
// window created (scripts that drive a real window).
#pragma once

#include <QtCore/QCoreApplication>
#include <QtCore/QString>
#include <QtCore/QUrl>
#include <QtGui/QDesktopServices>
#include <QtGui/QGuiApplication>
#include <QtGui/QIcon>
#include <QtGui/QPixmap>
#include <QtQml/QQmlApplicationEngine>
#include <memory>

#include "wbackup/src/gui/bridge.cxxqt.h"
#include "wbackup/src/gui/rows.cxxqt.h"

inline bool
wbackup_open_local_file(const QString& path)
{
  return QDesktopServices::openUrl(QUrl::fromLocalFile(path));
}

inline void
wbackup_quit_application()
{
  QCoreApplication::quit();
}

// Sets every window's icon (title bar, task switcher) from the SVG in the binary's
// resources; false when it cannot be drawn (Qt's SVG image plugin is missing).
inline bool
wbackup_set_window_icon()
{
  QIcon icon(QStringLiteral(":/qt/qml/org/wbackup/assets/wbackup.svg"));
  QGuiApplication::setWindowIcon(icon);
  QGuiApplication::setDesktopFileName(QStringLiteral("wbackup"));
  return !icon.pixmap(64, 64).isNull();
}

inline std::unique_ptr<Backend>
wbackup_new_backend()
{
  return std::make_unique<Backend>();
}

inline std::unique_ptr<RowModel>
wbackup_new_row_model()
{
  return std::make_unique<RowModel>();
}

// The Backend inside the windows this engine loaded (QML creates it), or null.
inline Backend*
wbackup_window_backend(const QQmlApplicationEngine& engine)
{
  const auto roots = engine.rootObjects();
  for (QObject* root : roots) {
    if (auto* backend = root->findChild<Backend*>())
      return backend;
  }
  return nullptr;
}
