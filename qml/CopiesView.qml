// The copies matrix: one row per repository, one column per node, each cell coloured by
// the copy's state (green proven; amber in sync but proof missing or old; red behind,
// missing or failed; grey node unreachable, shown from the proof ledger). Selecting a
// cell shows its last proof and the commands that restore from that copy, with Copy.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Frame {
    id: view
    property var copies
    // The configuration file the window opened ("" for the usual lookup).
    property string configFile: ""
    padding: 8

    readonly property var fills: ({
        "proven": "#cdebd3", "unproven": "#ffe3a3", "behind": "#f6c1bf",
        "missing": "#f6c1bf", "failed": "#f6c1bf", "unknown": "#dedfe2"
    })
    readonly property var edges: ({
        "proven": "#2e8b47", "unproven": "#c68a00", "behind": "#c9302c",
        "missing": "#c9302c", "failed": "#c9302c", "unknown": "#8a8f98"
    })
    readonly property int cellWidth: 200
    readonly property int repoWidth: 120

    ColumnLayout {
        anchors.fill: parent
        spacing: 8

        RowLayout {
            Layout.fillWidth: true
            spacing: 12
            Label {
                objectName: "copiesChecked"
                text: view.copies.loading ? "Reaching the nodes…" : view.copies.checked
                color: "#5c6370"
            }
            Item { Layout.fillWidth: true }
            Repeater {
                model: [["proven", "proven"], ["unproven", "in sync, proof missing or old"],
                        ["failed", "behind, missing or failed"], ["unknown", "unreachable"]]
                delegate: RowLayout {
                    required property var modelData
                    spacing: 4
                    Rectangle {
                        implicitWidth: 12; implicitHeight: 12; radius: 2
                        color: view.fills[modelData[0]]
                        border.color: view.edges[modelData[0]]
                    }
                    Label { text: modelData[1]; font.pixelSize: 11 }
                }
            }
            Button {
                objectName: "copiesRefresh"
                text: "Refresh"
                enabled: !view.copies.loading
                onClicked: view.copies.refresh(view.configFile)
            }
        }

        ScrollView {
            Layout.fillWidth: true
            // As tall as the matrix; shorter, scrolled, when the window is short. (No
            // binding on the view's own height: that is a layout loop.)
            Layout.preferredHeight: matrix.implicitHeight + 4
            Layout.maximumHeight: matrix.implicitHeight + 4
            Layout.minimumHeight: 0
            Layout.fillHeight: true
            clip: true

            Column {
                id: matrix
                spacing: 4

                Row {
                    spacing: 4
                    Label { width: view.repoWidth; text: "Repository ↓  node →"; font.bold: true }
                    Repeater {
                        model: view.copies.nodes
                        delegate: Label {
                            required property string modelData
                            width: view.cellWidth
                            text: modelData
                            font.bold: true
                            horizontalAlignment: Text.AlignHCenter
                        }
                    }
                }

                Repeater {
                    model: view.copies.rows
                    delegate: Row {
                        id: repoRow
                        required property int index
                        required property string repo
                        required property var states
                        required property var firsts
                        required property var seconds
                        spacing: 4

                        Label {
                            width: view.repoWidth
                            height: 56
                            verticalAlignment: Text.AlignVCenter
                            text: repoRow.repo
                            font.bold: true
                            elide: Text.ElideRight
                        }
                        Repeater {
                            model: repoRow.states.length
                            delegate: Rectangle {
                                id: cell
                                required property int index
                                readonly property string holder: view.copies.nodes[index] || ""
                                readonly property string copyState: repoRow.states[index]
                                readonly property bool selected: view.copies.selectedRepo === repoRow.repo
                                                                 && view.copies.selectedHolder === holder
                                objectName: "cell_" + repoRow.repo + "_" + holder
                                width: view.cellWidth
                                height: 56
                                radius: 4
                                color: view.fills[copyState] || "#ffffff"
                                border.color: view.edges[copyState] || "#8a8f98"
                                border.width: selected ? 3 : 1

                                Column {
                                    anchors.fill: parent
                                    anchors.margins: 6
                                    spacing: 1
                                    Label { text: cell.copyState; font.bold: true; color: view.edges[cell.copyState] }
                                    Label { text: repoRow.firsts[cell.index]; font.pixelSize: 11; width: parent.width; elide: Text.ElideRight }
                                    Label { text: repoRow.seconds[cell.index]; font.pixelSize: 11; width: parent.width; elide: Text.ElideRight; color: "#5c6370" }
                                }
                                function choose() {
                                    view.copies.select(repoRow.index, cell.index)
                                }
                                MouseArea {
                                    anchors.fill: parent
                                    onClicked: cell.choose()
                                }
                            }
                        }
                    }
                }
            }
        }

        Label {
            visible: view.copies.rows.count === 0
            text: view.copies.loading ? "" : "No repositories to show yet."
            color: "#8a8f98"
        }

        RowLayout {
            Layout.fillWidth: true
            Layout.fillHeight: true
            spacing: 10
            visible: view.copies.selectedRepo !== ""

            ColumnLayout {
                Layout.fillWidth: true
                Layout.fillHeight: true
                Layout.preferredWidth: 1
                Label { text: "This copy"; font.bold: true }
                ScrollView {
                    Layout.fillWidth: true
                    Layout.fillHeight: true
                    TextArea {
                        objectName: "copyDetail"
                        readOnly: true
                        wrapMode: TextEdit.Wrap
                        text: view.copies.detail
                    }
                }
            }
            ColumnLayout {
                Layout.fillWidth: true
                Layout.fillHeight: true
                Layout.preferredWidth: 1
                RowLayout {
                    Label {
                        Layout.fillWidth: true
                        text: "Restore from " + view.copies.selectedRepo + " on " + view.copies.selectedHolder
                        font.bold: true
                    }
                    Label { id: copied; visible: false; text: "copied"; color: "#2e8b47" }
                    Button {
                        objectName: "copyRestoreButton"
                        text: "Copy"
                        onClicked: copied.visible = view.copies.copyRestore()
                    }
                }
                ScrollView {
                    Layout.fillWidth: true
                    Layout.fillHeight: true
                    TextArea {
                        objectName: "restoreText"
                        readOnly: true
                        selectByMouse: true
                        font.family: "monospace"
                        wrapMode: TextEdit.WrapAtWordBoundaryOrAnywhere
                        text: view.copies.restoreText
                        onTextChanged: copied.visible = false
                    }
                }
            }
        }
    }
}
