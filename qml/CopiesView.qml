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
    Tones { id: tones; window: view.palette.window }

    // Light fills and dark edges on a light palette; dark fills and light edges on a
    // dark one (the cells' text is the palette's, so the fill must contrast with it).
    readonly property var fills: tones.dark ? ({
        "proven": "#1f3d29", "unproven": "#43361a", "behind": "#4a2423",
        "missing": "#4a2423", "failed": "#4a2423", "unknown": "#34373c"
    }) : ({
        "proven": "#cdebd3", "unproven": "#ffe3a3", "behind": "#f6c1bf",
        "missing": "#f6c1bf", "failed": "#f6c1bf", "unknown": "#dedfe2"
    })
    readonly property var edges: tones.dark ? ({
        "proven": "#7fd18f", "unproven": "#f0b85a", "behind": "#ff8f87",
        "missing": "#ff8f87", "failed": "#ff8f87", "unknown": "#a3a9b2"
    }) : ({
        "proven": "#2e8b47", "unproven": "#c68a00", "behind": "#c9302c",
        "missing": "#c9302c", "failed": "#c9302c", "unknown": "#8a8f98"
    })
    // The state word on its fill: the edge colour where it is dark enough to read.
    readonly property var words: tones.dark ? edges : ({
        "proven": "#23703a", "unproven": "#7a5400", "behind": "#9a2420",
        "missing": "#9a2420", "failed": "#9a2420", "unknown": "#4f545c"
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
                color: tones.muted
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
                Accessible.name: "Refresh the copies"
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
                                color: view.fills[copyState] || view.palette.base
                                border.color: view.edges[copyState] || tones.muted
                                border.width: selected ? 3 : 1
                                // Tab reaches each copy; Space or Enter selects it, as a click does.
                                activeFocusOnTab: true
                                Keys.onSpacePressed: choose()
                                Keys.onReturnPressed: choose()
                                Accessible.role: Accessible.Cell
                                Accessible.name: repoRow.repo + " on " + holder + ": " + copyState
                                Accessible.description: repoRow.firsts[cell.index] + ". " + repoRow.seconds[cell.index]
                                Accessible.selected: selected
                                Accessible.onPressAction: choose()

                                Column {
                                    anchors.fill: parent
                                    anchors.margins: 6
                                    spacing: 1
                                    Label { text: cell.copyState; font.bold: true; color: view.words[cell.copyState] || tones.muted }
                                    Label { text: repoRow.firsts[cell.index]; font.pixelSize: 11; width: parent.width; elide: Text.ElideRight }
                                    Label { text: repoRow.seconds[cell.index]; font.pixelSize: 11; width: parent.width; elide: Text.ElideRight }
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
            color: tones.muted
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
                        Accessible.name: "This copy's last proof"
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
                    Label { id: copied; visible: false; text: "copied"; color: tones.good }
                    Button {
                        objectName: "copyRestoreButton"
                        text: "Copy"
                        Accessible.name: "Copy the restore commands"
                        onClicked: copied.visible = view.copies.copyRestore()
                    }
                }
                ScrollView {
                    Layout.fillWidth: true
                    Layout.fillHeight: true
                    TextArea {
                        objectName: "restoreText"
                        Accessible.name: "Commands that restore from this copy"
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
