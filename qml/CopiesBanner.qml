// A banner across the window when a copy failed its last drill, is behind its source,
// has gone unproven too long, or the last successful backup is old: one sentence from
// the Copies object, with a button to the Copies view. Hidden when all is well.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Rectangle {
    id: banner
    objectName: "copiesBanner"
    property var copies
    signal showCopies()
    readonly property string text: copies ? copies.banner : ""

    visible: text !== ""
    implicitHeight: visible ? row.implicitHeight + 16 : 0
    Tones { id: tones; window: banner.palette.window }
    color: tones.alertFill
    border.color: tones.alertEdge
    radius: 4

    RowLayout {
        id: row
        anchors.fill: parent
        anchors.margins: 8
        spacing: 10
        Label {
            objectName: "copiesBannerText"
            Layout.fillWidth: true
            text: banner.text
            wrapMode: Text.WordWrap
            color: tones.noticeText
        }
        Button {
            text: "Show copies"
            Accessible.name: "Show the Copies view"
            onClicked: banner.showCopies()
        }
    }
}
