// UI text in Chinese (zh-CN, the default) and English. Static HTML carries data-i18n
// (text), data-i18n-placeholder, data-i18n-title and data-i18n-aria; code calls t(key, vars).

const LANG_KEY = "fh.lang";
export const LANGS = ["zh-CN", "en"];

const TEXT = {
  "zh-CN": {
    app_title: "应急指挥视频墙", review_title: "告警复核", nav_wall: "视频墙", nav_review: "告警复核",
    demo_banner: "演示模式 — 无访问控制，任何人都可查看和修改",
    sign_in: "登录", token_label: "访问令牌", token_hint: "粘贴管理员发放的令牌（fusionhub token …）",
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
    acknowledge: "确认收到", acked: "已确认", acked_by: "{who} 已确认", ack_failed: "确认失败：{reason}",
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
