// UI text in Chinese (zh-CN, the default) and English. Static HTML carries data-i18n
// (text), data-i18n-placeholder, data-i18n-title and data-i18n-aria; code calls t(key, vars).

const LANG_KEY = "fh.lang";
export const LANGS = ["zh-CN", "en"];

const TEXT = {
  "zh-CN": {
    app_title: "应急指挥视频墙", review_title: "告警复核", nav_wall: "视频墙", nav_review: "告警复核",
    demo_banner: "演示模式 — 无访问控制，任何人都可查看和修改",
    sign_in: "登录", token_label: "访问令牌", token_hint: "粘贴管理员发放的令牌（fusionhub token …）",
    username: "用户名", password: "密码", or_token: "或粘贴访问令牌（设备、集成）",
    session_ending: "会话将在 {min} 分 {sec} 秒后结束，请保存工作后重新登录", sign_in_again: "重新登录",
    err_invalid_credentials: "用户名或密码错误", err_too_many_attempts: "登录失败次数过多，请稍后再试",
    err_account_disabled: "该账号已停用", err_password_changed: "密码已更改，请重新登录",
    err_not_a_session: "此令牌不能续期", err_credentials_required: "请输入用户名和密码",
    field_id: "编号", field_name: "名称", field_group: "分组", field_kind: "类型", field_url: "地址",
    field_publish: "推流", field_always_on: "常开", field_transport: "传输", field_location: "位置",
    field_lat: "纬度", field_lon: "经度", field_tags: "标签", field_username: "用户名", field_password: "密码",
    field_role: "角色", field_groups: "分组范围", field_display_name: "显示名称",
    verr_required: "{field}：必填", verr_pattern: "{field}：格式不正确", verr_too_long: "{field}：太长",
    verr_too_short: "{field}：太短", verr_choice: "{field}：不是允许的取值", verr_boolean: "{field}：应为 是/否",
    verr_number: "{field}：应为数字", verr_range: "{field}：超出范围", verr_unknown_field: "{field}：未知字段",
    verr_type: "{field}：类型不正确", verr_scheme_not_allowed: "{field}：不允许的协议", verr_immutable: "{field}：不可修改",
    verr_duplicate_id: "{field}：本次导入中重复", verr_exists: "{field}：已存在", verr_out_of_scope: "{field}：超出您的管理范围",
    verr_cell_count: "列数与表头不符", verr_bad_json: "不是有效的 JSON", verr_invalid: "{field}：无效",
    err_invalid_username: "用户名：1–64 个字母、数字或 _.@-", err_invalid_role: "角色不正确",
    err_invalid_group: "分组路径不正确", err_groups_required: "值守员、指挥员和分析员至少需要一个分组（* 表示全部）",
    err_weak_password: "密码至少 8 个字符", err_user_exists: "用户名已存在", err_unknown_field: "未知字段",
    put_on_wall: "上墙", open_clip: "查看录像", more_alerts: "还有 {n} 条新告警", snapshot_pending: "抓拍生成中…",
    evidence_unavailable: "无证据：{reason}", clip_unavailable: "无录像片段：{reason}",
    replace_tile: "视频墙已满：用「{name}」替换第 {n} 格？", alarm_actions: "告警联动",
    action_popup: "弹窗提示", action_none: "仅列表和声音", action_tile: "弹窗并放到第 {n} 格", action_layout: "弹窗并切换到布局「{name}」",
    sound_click: "点击页面以启用声音", save: "保存", sound_on: "告警声音：开（点击关闭）", sound_off: "告警声音：关（点击打开）", alarm_sound: "告警声音",
    cancelled_by: "{who} 已撤销（误报）",
    undo: "撤销", replace_wall: "空闲画面不够（需要 {n} 个，空闲 {free} 个）：用整组替换当前视频墙？（可撤销）",
    tour: "轮巡", tour_group: "轮巡本组", tour_target: "轮巡位置", tour_tile: "选中的画面", tour_layout: "整个视频墙（分页）",
    tour_interval: "间隔（秒）", tour_start: "开始轮巡", tour_what: "{name}：{n} 路视频", touring: "轮巡中：{name}，每 {s} 秒", tour_stop: "停止",
    admin_title: "系统管理", nav_admin: "系统管理", admin_only: "此页面仅限管理员", tab_sources: "视频源", tab_import: "批量导入",
    tab_groups: "分组", tab_users: "用户", tab_devices: "设备令牌", add_source: "添加视频源", edit_source: "编辑视频源 {id}",
    kind_camera: "摄像机", kind_bodycam: "执法记录仪", kind_drone: "无人机", kind_phone: "手机", kind_file: "文件",
    test_url: "测试地址", new_source: "新建", edit: "编辑", confirm_delete_source: "删除视频源「{name}」？",
    source_saved: "已保存「{name}」", testing: "正在测试…", probe_ok: "可以连接：{codec} {size}，{ms} 毫秒", probe_failed: "无法连接：{reason}",
    import_file: "CSV / JSON 文件", import_encoding: "编码", encoding_auto: "自动识别", import_mode: "方式",
    mode_upsert: "新增或覆盖", mode_create: "仅新增", import_preview: "预览", import_apply: "导入",
    template_zh: "下载模板（中文表头）", template_en: "下载模板（英文表头）", import_choose: "请选择文件",
    import_preview_summary: "预览：{ok} 行可导入，{failed} 行有错误（尚未写入）", import_done: "已导入 {ok} 行，{failed} 行失败",
    row_n: "第 {n} 行", add_user: "添加用户", user_state: "状态", user_disabled: "已停用", user_active: "正常",
    enable: "启用", disable: "停用", set_password: "重设密码", new_password: "{user} 的新密码：",
    token_issued_by: "签发人", token_expires: "到期", revoke: "吊销", confirm_revoke: "吊销「{source}」的这个设备令牌？设备将无法再回传。",
    token_days: "有效天数", issue_token: "签发设备令牌", token_once: "令牌只显示这一次，请复制到设备上：", field_link: "打开单兵页面",
    unmute: "打开声音（同一时间只播一路）", mute: "关闭声音", tile_snapshot: "抓拍保存为图片",
    stopped_by_device: "设备已停止回传", reason_auth: "认证失败（用户名或密码错误）",
    reason_codec: "不支持的编码", reason_unreachable: "无法连接视频源：{detail}",
    fp_title: "单兵回传", fp_idle: "未连接", fp_token: "设备令牌", fp_source: "视频源编号", fp_camera: "摄像头",
    fp_default_camera: "默认", fp_audio: "声音", fp_publish: "开始回传", fp_stop: "停止", fp_bitrate: "码率",
    fp_rtt: "往返时延", fp_loss: "丢包", fp_fps: "帧率", fp_position: "我的位置", fp_alarm: "一键报警",
    fp_cancel_alarm: "误报，撤销报警", fp_no_camera: "无法列出摄像头：{reason}", fp_need_token: "需要设备令牌和视频源编号",
    fp_insecure: "此页面需要 HTTPS 才能使用摄像头、麦克风和定位（请使用 https:// 地址）",
    fp_connecting: "连接中", fp_live: "回传中", fp_reconnecting: "重连中", fp_failed: "失败",
    fp_alarm_message: "一键报警", fp_alarm_failed: "报警失败：{reason}", fp_alarm_sent: "已报警（{time}），等待指挥中心确认…",
    fp_alarm_acked: "指挥中心已确认收到：{who}（{time}）", fp_alarm_cancelled: "报警已撤销（误报）", fp_alarm_resolved: "报警已处理完毕",
    fp_cancel_confirm: "确定这是误报并撤销报警？", fp_cancel_failed: "撤销失败：{reason}",
    enter: "进入", sign_out: "退出", token_rejected: "令牌无效或已过期：{reason}",
    hub_unreachable: "无法连接服务器，正在重试…",
    role_viewer: "值守员", role_operator: "指挥员", role_analyst: "分析员", role_admin: "管理员",
    role_device: "设备", role_demo: "演示",
    sources: "视频源", search: "搜索名称 / 编号", all_states: "全部状态", only_live: "在线（含直播）",
    state_streaming: "直播中", state_online: "在线", state_offline: "离线", state_error: "故障",
    state_alarm: "告警中", alarm: "告警", no_sources: "没有可见的视频源", no_match: "没有匹配的视频源",
    count_title: "在线数 / 总数（含下级）", alarmed_count: "未确认告警的视频源", play_group: "整组上墙",
    layout: "分屏", presets: "已保存的布局…", no_presets: "（无已保存布局）", save_preset: "保存布局",
    delete_preset: "删除", preset_name: "布局名称：", preset_saved: "已保存布局「{name}」",
    preset_full: "已保存的布局过多，请先删除一些", preset_delete: "删除布局「{name}」？",
    copy_link: "复制链接", link_copied: "已复制本画面的链接", clear_wall: "清空",
    conn_connecting: "连接中…", conn_live: "● 实时", conn_reconnecting: "连接中断，正在重连…",
    tile_empty: "点击或拖入左侧视频源", connecting: "正在连接…", signal_lost: "信号中断，正在重连…",
    reconnecting: "正在重连（第 {n} 次）… {reason}", connection_lost: "连接断开", source_back: "信号恢复",
    no_picture: "暂无画面", busy: "服务器繁忙", network_error: "网络错误", not_found: "视频源不存在或无权查看",
    forbidden: "无权查看", fullscreen: "全屏（双击）", close_tile: "关闭", close: "关闭",
    sources_failed: "加载视频源失败：{reason}",
    alarms: "告警", only_unacked: "仅未确认", no_alerts: "暂无告警", no_unacked: "没有未确认的告警",
    alerts_unavailable: "告警服务不可用", alerts_failed: "加载告警失败：{reason}",
    acknowledge: "确认收到", acked: "已收到", acked_by: "{who} 已确认收到", ack_failed: "确认失败：{reason}",
    manual_alarm: "一键报警", confidence: "置信度",
    kind_fire: "火情", kind_smoke: "烟雾", kind_flood: "水情", kind_manual: "报警",
    alert_state_raised: "告警中", alert_state_resolved: "已解除",
    clip_pending: "录像片段生成中…", clip_missing: "无录像片段", snapshot: "抓拍",
    snapshot_missing: "无抓拍图", open_review: "复核",
    filter: "筛选", reset: "重置", since: "开始时间", until: "结束时间", all_groups: "全部分组",
    all_kinds: "全部类型", all_reviews: "全部复核状态", all_alert_states: "全部告警状态",
    review_new: "待复核", review_confirmed: "已确认属实", review_false_alarm: "误报",
    mark_confirmed: "属实 (C)", mark_false_alarm: "误报 (F)", mark_new: "重置为待复核",
    col_time: "时间", col_kind: "类型", col_source: "视频源", col_group: "分组", col_conf: "置信度",
    col_review: "复核", col_clip: "片段", boxes: "检测框", message: "说明",
    comment_hint: "复核意见（可选，误报原因有助于模型改进）",
    review_keys: "快捷键：J/K 上下切换，C 属实，F 误报", review_saved: "已标记为「{review}」",
    review_failed: "保存失败：{reason}", review_readonly: "只读：当前角色不能复核",
    showing: "第 {from}–{to} 条，共 {total} 条", loading: "加载中…", prev: "上一页", next: "下一页",
    new_alerts: "有 {n} 条新告警，点击刷新", alert_not_found: "告警不存在或无权查看",
    playback: "录像回放", open_playback: "录像回放（时间轴）", pause: "暂停 / 继续", zoom_in: "放大时间轴",
    zoom_out: "缩小时间轴", sync: "同步", back_to_live: "返回直播", playback_end: "录像结束",
    playback_failed: "回放失败", no_recording_here: "此时段无录像", loading_playback: "正在加载录像…",
    play_before: "回放告警前 5 分钟",
  },
  en: {
    app_title: "Command centre video wall", review_title: "Alert review", nav_wall: "Video wall", nav_review: "Review",
    demo_banner: "Demo — no access control: anybody can view and change everything",
    sign_in: "Sign in", token_label: "Access token", token_hint: "Paste the token your administrator issued (fusionhub token …)",
    username: "User name", password: "Password", or_token: "or paste an access token (devices, integrations)",
    session_ending: "Your session ends in {min} min {sec} s; save your work and sign in again", sign_in_again: "Sign in again",
    err_invalid_credentials: "Wrong user name or password", err_too_many_attempts: "Too many failed sign-ins; try again later",
    err_account_disabled: "This account is disabled", err_password_changed: "The password changed; sign in again",
    err_not_a_session: "This token cannot be renewed", err_credentials_required: "Enter your user name and password",
    field_id: "ID", field_name: "Name", field_group: "Group", field_kind: "Kind", field_url: "URL",
    field_publish: "Publish", field_always_on: "Always on", field_transport: "Transport", field_location: "Location",
    field_lat: "Latitude", field_lon: "Longitude", field_tags: "Tags", field_username: "User name", field_password: "Password",
    field_role: "Role", field_groups: "Group scope", field_display_name: "Display name",
    verr_required: "{field}: required", verr_pattern: "{field}: wrong format", verr_too_long: "{field}: too long",
    verr_too_short: "{field}: too short", verr_choice: "{field}: not an allowed value", verr_boolean: "{field}: yes or no",
    verr_number: "{field}: a number", verr_range: "{field}: out of range", verr_unknown_field: "{field}: unknown field",
    verr_type: "{field}: wrong type", verr_scheme_not_allowed: "{field}: protocol not allowed", verr_immutable: "{field}: cannot be changed",
    verr_duplicate_id: "{field}: twice in this import", verr_exists: "{field}: already exists", verr_out_of_scope: "{field}: outside your scope",
    verr_cell_count: "more cells than header columns", verr_bad_json: "not valid JSON", verr_invalid: "{field}: invalid",
    err_invalid_username: "User name: 1–64 letters, digits or _.@-", err_invalid_role: "Wrong role",
    err_invalid_group: "Wrong group path", err_groups_required: "Viewers, operators and analysts need at least one group (* for all)",
    err_weak_password: "The password needs at least 8 characters", err_user_exists: "This user name exists already", err_unknown_field: "Unknown field",
    put_on_wall: "Put on wall", open_clip: "Open clip", more_alerts: "{n} more new alerts", snapshot_pending: "Snapshot being taken…",
    evidence_unavailable: "No evidence: {reason}", clip_unavailable: "No clip: {reason}",
    replace_tile: "The wall is full: replace tile {n} with “{name}”?", alarm_actions: "Alarm actions",
    action_popup: "Pop-up", action_none: "Feed and sound only", action_tile: "Pop-up and tile {n}", action_layout: "Pop-up and layout “{name}”",
    sound_click: "click the page to enable sound", save: "Save", sound_on: "Alarm sound: on (click to mute)", sound_off: "Alarm sound: off (click to turn on)", alarm_sound: "Alarm sound",
    cancelled_by: "withdrawn by {who} (false alarm)",
    undo: "Undo", replace_wall: "Not enough free tiles ({n} needed, {free} free): replace the wall with the group? (undo brings it back)",
    tour: "Tour", tour_group: "Tour this group", tour_target: "Where", tour_tile: "The selected tile", tour_layout: "The whole wall (pages)",
    tour_interval: "Interval (s)", tour_start: "Start tour", tour_what: "{name}: {n} sources", touring: "Touring {name}, every {s} s", tour_stop: "Stop",
    admin_title: "Administration", nav_admin: "Admin", admin_only: "This page is for administrators", tab_sources: "Sources", tab_import: "Import",
    tab_groups: "Groups", tab_users: "Users", tab_devices: "Device tokens", add_source: "Add a source", edit_source: "Edit source {id}",
    kind_camera: "Camera", kind_bodycam: "Body-cam", kind_drone: "Drone", kind_phone: "Phone", kind_file: "File",
    test_url: "Test URL", new_source: "New", edit: "Edit", confirm_delete_source: "Delete source “{name}”?",
    source_saved: "Saved “{name}”", testing: "Testing…", probe_ok: "Reachable: {codec} {size}, {ms} ms", probe_failed: "Not reachable: {reason}",
    import_file: "CSV / JSON file", import_encoding: "Encoding", encoding_auto: "Detect", import_mode: "Mode",
    mode_upsert: "Add or replace", mode_create: "Add only", import_preview: "Preview", import_apply: "Import",
    template_zh: "Template (Chinese headers)", template_en: "Template (English headers)", import_choose: "Choose a file",
    import_preview_summary: "Preview: {ok} rows can be imported, {failed} rows have errors (nothing written yet)", import_done: "Imported {ok} rows, {failed} failed",
    row_n: "Row {n}", add_user: "Add a user", user_state: "State", user_disabled: "disabled", user_active: "active",
    enable: "Enable", disable: "Disable", set_password: "Set password", new_password: "New password of {user}:",
    token_issued_by: "Issued by", token_expires: "Expires", revoke: "Revoke", confirm_revoke: "Revoke this device token of “{source}”? The device can no longer publish.",
    token_days: "Valid for days", issue_token: "Issue device token", token_once: "The token is shown only once; copy it to the device:", field_link: "Open the field page",
    unmute: "Unmute (one tile at a time)", mute: "Mute", tile_snapshot: "Save a snapshot image",
    stopped_by_device: "Stopped by the device", reason_auth: "Authentication failed (wrong user or password)",
    reason_codec: "Codec not supported", reason_unreachable: "Source unreachable: {detail}",
    fp_title: "Field publisher", fp_idle: "idle", fp_token: "Device token", fp_source: "Source id", fp_camera: "Camera",
    fp_default_camera: "default", fp_audio: "Audio", fp_publish: "Publish", fp_stop: "Stop", fp_bitrate: "Bitrate",
    fp_rtt: "Round trip", fp_loss: "Loss", fp_fps: "Frame rate", fp_position: "My position", fp_alarm: "ALARM",
    fp_cancel_alarm: "False alarm: withdraw", fp_no_camera: "Cannot list cameras: {reason}", fp_need_token: "A device token and a source id are needed",
    fp_insecure: "This page needs HTTPS for the camera, microphone and location (use the https:// address)",
    fp_connecting: "connecting", fp_live: "live", fp_reconnecting: "reconnecting", fp_failed: "failed",
    fp_alarm_message: "field alarm", fp_alarm_failed: "Alarm failed: {reason}", fp_alarm_sent: "Alarm raised ({time}); waiting for the centre…",
    fp_alarm_acked: "The centre acknowledged it: {who} ({time})", fp_alarm_cancelled: "Alarm withdrawn (false alarm)", fp_alarm_resolved: "The alarm is resolved",
    fp_cancel_confirm: "Withdraw this alarm as a false alarm?", fp_cancel_failed: "Withdraw failed: {reason}",
    enter: "Enter", sign_out: "Sign out", token_rejected: "Token refused or expired: {reason}",
    hub_unreachable: "Cannot reach the server, retrying…",
    role_viewer: "viewer", role_operator: "operator", role_analyst: "analyst", role_admin: "admin",
    role_device: "device", role_demo: "demo",
    sources: "Sources", search: "Search name / id", all_states: "All states", only_live: "Online (incl. live)",
    state_streaming: "Live", state_online: "Online", state_offline: "Offline", state_error: "Error",
    state_alarm: "Alarmed", alarm: "ALARM", no_sources: "No sources visible", no_match: "No source matches",
    count_title: "online / total (subgroups included)", alarmed_count: "Sources with unacknowledged alarms",
    play_group: "Put the group on the wall",
    layout: "Layout", presets: "Saved layouts…", no_presets: "(no saved layouts)", save_preset: "Save layout",
    delete_preset: "Delete", preset_name: "Layout name:", preset_saved: "Layout “{name}” saved",
    preset_full: "Too many saved layouts: delete some first", preset_delete: "Delete layout “{name}”?",
    copy_link: "Copy link", link_copied: "Link to this wall copied", clear_wall: "Clear",
    conn_connecting: "Connecting…", conn_live: "● Live", conn_reconnecting: "Connection lost, reconnecting…",
    tile_empty: "Click or drag a source here", connecting: "Connecting…", signal_lost: "Signal lost, reconnecting…",
    reconnecting: "Reconnecting (attempt {n})… {reason}", connection_lost: "Connection lost", source_back: "Signal back",
    no_picture: "No picture yet", busy: "Server busy", network_error: "Network error",
    not_found: "Source unknown or not allowed", forbidden: "Not allowed", fullscreen: "Full screen (double-click)",
    close_tile: "Close", close: "Close", sources_failed: "Loading sources failed: {reason}",
    alarms: "Alarms", only_unacked: "Unacknowledged only", no_alerts: "No alerts", no_unacked: "No unacknowledged alerts",
    alerts_unavailable: "Alert service unavailable", alerts_failed: "Loading alerts failed: {reason}",
    acknowledge: "Acknowledge", acked: "Acknowledged", acked_by: "acknowledged by {who}", ack_failed: "Acknowledge failed: {reason}",
    manual_alarm: "One-click alarm", confidence: "Confidence",
    kind_fire: "Fire", kind_smoke: "Smoke", kind_flood: "Flood", kind_manual: "Alarm",
    alert_state_raised: "Active", alert_state_resolved: "Resolved",
    clip_pending: "Clip being written…", clip_missing: "No clip", snapshot: "Snapshot",
    snapshot_missing: "No snapshot", open_review: "Review",
    filter: "Filter", reset: "Reset", since: "From", until: "To", all_groups: "All groups",
    all_kinds: "All kinds", all_reviews: "Any review state", all_alert_states: "Any alert state",
    review_new: "To review", review_confirmed: "Confirmed", review_false_alarm: "False alarm",
    mark_confirmed: "Confirm (C)", mark_false_alarm: "False alarm (F)", mark_new: "Back to review",
    col_time: "Time", col_kind: "Kind", col_source: "Source", col_group: "Group", col_conf: "Confidence",
    col_review: "Review", col_clip: "Clip", boxes: "Boxes", message: "Message",
    comment_hint: "Comment (optional; why it was a false alarm helps the model team)",
    review_keys: "Keys: J/K next/previous, C confirm, F false alarm", review_saved: "Marked “{review}”",
    review_failed: "Saving failed: {reason}", review_readonly: "Read-only: this role cannot review",
    showing: "{from}–{to} of {total}", loading: "Loading…", prev: "Previous", next: "Next",
    new_alerts: "{n} new alerts — click to refresh", alert_not_found: "Alert unknown or not allowed",
    playback: "Playback", open_playback: "Recordings (timeline)", pause: "Pause / resume", zoom_in: "Zoom in",
    zoom_out: "Zoom out", sync: "Sync", back_to_live: "Back to live", playback_end: "End of recording",
    playback_failed: "Playback failed", no_recording_here: "Nothing recorded here", loading_playback: "Loading recording…",
    play_before: "Play from 5 min before",
  },
};

export function getLang() {
  const stored = localStorage.getItem(LANG_KEY);
  return LANGS.includes(stored) ? stored : "zh-CN";
}

export function setLang(lang) {
  if (LANGS.includes(lang)) localStorage.setItem(LANG_KEY, lang);
}

/** The text of `key` in the current language, with {name} placeholders filled. */
export function t(key, vars) {
  const table = TEXT[getLang()];
  let text = table[key] ?? TEXT["zh-CN"][key] ?? key;
  if (vars) text = text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
  return text;
}

/** The message for an API error `code` (key `err_<code>`), or `fallback` when there is none. */
export function tCode(code, fallback = "") {
  const key = "err_" + code;
  const text = TEXT[getLang()][key] ?? TEXT["zh-CN"][key];
  return text === undefined ? fallback : text;
}

/**
 * A validation error in the user's language: from its `reason`/`code` (a row error's `code`,
 * a 422's `reason`) and `field`; `fallback` (the server's English message) when unknown.
 */
export function validationText({ code, reason, field }, fallback = "") {
  const word = reason || code;
  const table = TEXT[getLang()];
  const top = String(field || "").split(".")[0];
  const name = table["field_" + top] ?? field ?? "";
  const text = table["verr_" + word] ?? table["err_" + word];
  return text === undefined ? fallback : text.replace("{field}", name);
}

export function applyI18n(root) {
  document.documentElement.lang = getLang();
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
  for (const node of root.querySelectorAll("[data-i18n-title]")) node.title = t(node.dataset.i18nTitle);
  for (const node of root.querySelectorAll("[data-i18n-aria]")) node.setAttribute("aria-label", t(node.dataset.i18nAria));
  const title = document.querySelector("title[data-i18n]");
  if (title) document.title = "fusionhub · " + t(title.dataset.i18n);
}

export const TEXT_TABLES = TEXT;  // both languages must define the same keys (tests/web)
