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
#include <QtGui/QPalette>
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

// Makes the application palette dark (or light) unless the platform's already is: a
// theme that gives its own palette of the wanted kind keeps it. True when it changed.
// Called before the window loads; the window binds its palette to SystemPalette.
inline bool
wbackup_set_palette(bool dark)
{
  const QPalette current = QGuiApplication::palette();
  const bool isDark = current.color(QPalette::Window).lightness() < 128;
  if (isDark == dark)
    return false;
  QPalette p;
  auto all = [&p](QPalette::ColorRole role, QColor color) {
    p.setColor(QPalette::All, role, color);
  };
  if (dark) {
    const QColor text(0xe8, 0xe8, 0xe8);
    all(QPalette::Window, QColor(0x2b, 0x2d, 0x31));
    all(QPalette::WindowText, text);
    all(QPalette::Base, QColor(0x1f, 0x20, 0x23));
    all(QPalette::AlternateBase, QColor(0x27, 0x29, 0x2d));
    all(QPalette::ToolTipBase, QColor(0x3a, 0x3d, 0x42));
    all(QPalette::ToolTipText, text);
    all(QPalette::PlaceholderText, QColor(0x8f, 0x94, 0x9c));
    all(QPalette::Text, text);
    all(QPalette::Button, QColor(0x3a, 0x3d, 0x42));
    all(QPalette::ButtonText, text);
    all(QPalette::BrightText, QColor(0xff, 0x8a, 0x80));
    all(QPalette::Light, QColor(0x4b, 0x4f, 0x56));
    all(QPalette::Midlight, QColor(0x3f, 0x42, 0x48));
    all(QPalette::Mid, QColor(0x24, 0x26, 0x29));
    all(QPalette::Dark, QColor(0x18, 0x19, 0x1b));
    all(QPalette::Shadow, QColor(0x0a, 0x0a, 0x0a));
    all(QPalette::Highlight, QColor(0x3d, 0x7b, 0xd9));
    all(QPalette::HighlightedText, QColor(0xff, 0xff, 0xff));
    all(QPalette::Link, QColor(0x8a, 0xb4, 0xf8));
    all(QPalette::LinkVisited, QColor(0xc5, 0x8a, 0xf9));
    const QColor disabled(0x7d, 0x81, 0x88);
    p.setColor(QPalette::Disabled, QPalette::WindowText, disabled);
    p.setColor(QPalette::Disabled, QPalette::Text, disabled);
    p.setColor(QPalette::Disabled, QPalette::ButtonText, disabled);
    p.setColor(QPalette::Disabled, QPalette::Base, QColor(0x2b, 0x2d, 0x31));
    p.setColor(QPalette::Disabled, QPalette::Highlight, QColor(0x50, 0x53, 0x59));
  } else {
    all(QPalette::Window, QColor(0xef, 0xef, 0xef));
    all(QPalette::WindowText, QColor(0x00, 0x00, 0x00));
    all(QPalette::Base, QColor(0xff, 0xff, 0xff));
    all(QPalette::AlternateBase, QColor(0xf7, 0xf7, 0xf7));
    all(QPalette::ToolTipBase, QColor(0xff, 0xff, 0xdc));
    all(QPalette::ToolTipText, QColor(0x00, 0x00, 0x00));
    all(QPalette::PlaceholderText, QColor(0x6e, 0x6e, 0x6e));
    all(QPalette::Text, QColor(0x00, 0x00, 0x00));
    all(QPalette::Button, QColor(0xef, 0xef, 0xef));
    all(QPalette::ButtonText, QColor(0x00, 0x00, 0x00));
    all(QPalette::BrightText, QColor(0xff, 0xff, 0xff));
    all(QPalette::Light, QColor(0xff, 0xff, 0xff));
    all(QPalette::Midlight, QColor(0xca, 0xca, 0xca));
    all(QPalette::Mid, QColor(0xb8, 0xb8, 0xb8));
    all(QPalette::Dark, QColor(0x9f, 0x9f, 0x9f));
    all(QPalette::Shadow, QColor(0x76, 0x76, 0x76));
    all(QPalette::Highlight, QColor(0x30, 0x8c, 0xc6));
    all(QPalette::HighlightedText, QColor(0xff, 0xff, 0xff));
    all(QPalette::Link, QColor(0x00, 0x00, 0xff));
    all(QPalette::LinkVisited, QColor(0xff, 0x00, 0xff));
    const QColor disabled(0xbe, 0xbe, 0xbe);
    p.setColor(QPalette::Disabled, QPalette::WindowText, disabled);
    p.setColor(QPalette::Disabled, QPalette::Text, disabled);
    p.setColor(QPalette::Disabled, QPalette::ButtonText, disabled);
    p.setColor(QPalette::Disabled, QPalette::Base, QColor(0xef, 0xef, 0xef));
  }
  QGuiApplication::setPalette(p);
  return true;
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
