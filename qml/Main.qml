import QtQuick
import QtQuick.Controls
import org.wbackup

ApplicationWindow {
    title: "wbackup"
    width: 900; height: 600; visible: true
    Backend { id: backend }
    Label { text: "wbackup" }
}
