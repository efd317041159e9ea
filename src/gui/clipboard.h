// The system clipboard for the Copies view's Copy button (cxx-qt-lib does not bind
// QClipboard). Needs a QGuiApplication, which the window always has.
#pragma once

#include <QtCore/QString>
#include <QtGui/QClipboard>
#include <QtGui/QGuiApplication>

inline void
wbackup_set_clipboard(const QString& text)
{
  if (auto* clipboard = QGuiApplication::clipboard())
    clipboard->setText(text);
}

inline QString
wbackup_clipboard_text()
{
  auto* clipboard = QGuiApplication::clipboard();
  return clipboard ? clipboard->text() : QString();
}
