// What the screen says for each server answer: the same words as the Python kiosk
// (kiosk_client/messages.py), plus the liveness prompts.

export const Tone = { OK: "ok", INFO: "info", WARN: "warn", STOP: "stop" };
export const PRIORITY = { ok: 3, stop: 2, info: 1, warn: 0 };

const ROLE_TITLE = { deputy: "代表", nonvoting: "列席", staff: "工作人员" };

export function msg(title, detail = "", tone = Tone.INFO, holdS = 2.0) {
  return { title, detail, tone, holdS };
}

export const IDLE = msg("欢迎", "请正对摄像头，稍候片刻", Tone.INFO, 0);
export const UPLOADING = msg("正在上传离线记录，请稍候", "", Tone.INFO, 0);
export const OFFLINE = "网络中断，已离线记录";

const REJECT_PROMPTS = {
  face_too_small: "请靠近一点",
  too_blurry: "请稍停一下，不要晃动",
  too_dark: "光线太暗，请靠近一点",
  multiple_faces: "请一位一位来",
};

// Face state `liveness` (a liveness check asks the deputy to move): action → prompt.
const LIVENESS_PROMPTS = {
  blink: "请眨眨眼",
  turn_left: "请向左转头",
  turn_right: "请向右转头",
};

export function hhmm(at) {
  const d = at instanceof Date ? at : new Date(at);
  return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
}

export function who(person) {
  return `${person.name} ${ROLE_TITLE[person.role] || "代表"}`;
}

export function checkinMessage(person, at, delayed = false) {
  const detail = delayed ? "网络恢复后补传，按到达时间登记" : "欢迎参加会议";
  return msg(`${who(person)}，报到成功 ${hhmm(at)}`, detail, Tone.OK, 4.0);
}

// `failed`: the face's track has been `unknown` for UNKNOWN_FAIL_S (only then is the person
// sent to the service desk; before that the next frames may still recognise the face).
export const UNKNOWN_FAIL_S = 5.0;

export function faceMessage(face, failed = false) {
  const state = face.state;
  if (state === "already") {
    const at = face.checked_in_at ? ` ${hhmm(face.checked_in_at)}` : "";
    const name = face.person ? `${who(face.person)}，` : "";
    return msg(`${name}已报到${at}`, "无需重复报到", Tone.INFO, 3.0);
  }
  if (state === "confirmed" && face.person) {
    return checkinMessage(face.person, face.checked_in_at || new Date());
  }
  if (state === "not_on_roster") return msg("您不在本次会议名单中", "请到服务台", Tone.STOP, 4.0);
  if (state === "unknown" && failed) return msg("未能识别您的身份", "请到服务台", Tone.STOP, 3.0);
  if (state === "unknown") return msg("正在识别…", "请看着摄像头", Tone.INFO, 1.0);
  if (state === "not_open") return msg("现在不在报到时间内", "请到服务台", Tone.STOP, 3.0);
  if (state === "liveness") {
    return msg(LIVENESS_PROMPTS[face.action] || "请眨眨眼", "请看着摄像头", Tone.INFO, 1.5);
  }
  if (state === "rejected" && face.reason === "liveness") {
    return msg("未能完成确认", "请到服务台", Tone.STOP, 4.0);
  }
  if (state === "rejected") return msg(REJECT_PROMPTS[face.reason] || "请正对镜头", "", Tone.WARN, 2.0);
  if (state === "matching") return msg("正在识别，请稍候…", "", Tone.INFO, 1.0);
  return null;
}

// The message for the largest face; ties broken by importance (messages.pick_message).
export function pickMessage(faces) {
  let best = null;
  for (const face of faces) {
    const m = faceMessage(face);
    if (!m) continue;
    const [t, r, b, l] = face.box;
    const key = [Math.min(b - t, r - l), PRIORITY[m.tone]];
    if (!best || key[0] > best[0][0] || (key[0] === best[0][0] && key[1] > best[0][1])) {
      best = [key, m];
    }
  }
  return best ? best[1] : null;
}

export const FACE_TONE = {
  confirmed: Tone.OK, already: Tone.INFO, matching: Tone.INFO, liveness: Tone.WARN,
  unknown: Tone.STOP, not_on_roster: Tone.STOP, not_open: Tone.STOP, rejected: Tone.WARN,
};
