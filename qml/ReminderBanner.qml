// A banner across the window when no backup has passed for longer than
// `remind_after_days` (or never): nothing of wbackup runs in the background, so the
// window is where a forgotten backup is noticed. The words come from the backend.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Rectangle {
    id: banner
    objectName: "reminderBanner"
    property var api
    readonly property string text: api ? api.reminder : ""

    // While a run goes on, the reminder has been heeded: it comes back if the run
    // does not pass.
    visible: text !== "" && !(api && api.running)
    implicitHeight: visible ? row.implicitHeight + 16 : 0
    Tones { id: tones; window: banner.palette.window }
    color: tones.noticeFill
    border.color: tones.noticeEdge
    radius: 4

    RowLayout {
        id: row
        anchors.fill: parent
        anchors.margins: 8
        spacing: 10
        Label {
            objectName: "reminderText"
            Layout.fillWidth: true
            text: banner.text
            wrapMode: Text.WordWrap
            color: tones.noticeText
        }
    }
}
