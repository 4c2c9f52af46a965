"""Unit names, seal codes and tax numbers, drawn the way a registry's contents look.

A unit's legal name is a place, a trade name of one to three words, an industry and an
organisation form: 北京 + 华信 + 科技发展 + 有限公司. Look-alike names differ from a filed
name in one or two characters (the trade name, usually), which is how a forger or a careless
registrant makes a confusable seal.
"""

from __future__ import annotations

import numpy as np

PROVINCES = ("北京", "上海", "天津", "重庆", "河北", "山西", "辽宁", "吉林", "江苏", "浙江",
             "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川",
             "贵州", "云南", "陕西", "甘肃", "青海")
CITIES = ("郑州", "洛阳", "开封", "南京", "苏州", "无锡", "杭州", "宁波", "温州", "合肥",
          "福州", "厦门", "南昌", "济南", "青岛", "烟台", "武汉", "长沙", "广州", "珠海",
          "成都", "绵阳", "贵阳", "昆明", "西安", "兰州", "太原", "大连", "沈阳", "长春",
          "石家庄", "保定", "唐山", "徐州", "常州", "嘉兴", "绍兴", "芜湖", "泉州", "赣州")
DISTRICTS = ("高新区", "经济开发区", "工业园区", "新区", "城关区", "开发区")
TRADE_WORDS = ("华信", "宏达", "恒通", "金源", "新兴", "长城", "东方", "中天", "盛世", "金海",
               "永安", "汇丰", "鼎盛", "联创", "博远", "嘉和", "瑞丰", "泰安", "万通", "光明",
               "天成", "明达", "华安", "远航", "中兴", "正大", "金桥", "同创", "弘业", "兴旺",
               "利民", "安康", "富强", "德润", "宏图", "飞跃", "银河", "海天", "龙腾", "国泰",
               "益民", "建业", "新世纪", "红星", "晨光", "绿源", "春华", "秋实", "北方", "南方")
INDUSTRIES = ("科技", "科技发展", "信息技术", "网络科技", "电子", "商贸", "贸易", "实业",
              "建筑工程", "建设", "房地产开发", "物流", "食品", "医药", "化工", "机械制造",
              "重工", "文化传媒", "广告", "教育咨询", "投资管理", "农业发展", "环保科技",
              "电力设备", "汽车销售", "服装", "家具", "印刷", "餐饮管理", "物业管理")
FORMS = ("有限公司", "有限责任公司", "股份有限公司", "集团有限公司", "合作社", "经营部", "工作室")
GOVERNMENT = ("人民政府", "公安局", "财政局", "教育局", "民政局", "税务局", "人民法院",
              "人民检察院", "卫生健康委员会", "市场监督管理局", "自然资源局", "交通运输局")
PERSON_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
PERSON_GIVEN = "国庆建华明伟芳军丽敏静强磊洋勇艳杰娟涛超秀英平刚桂兰文辉力志红金玉春海云"

# Characters a look-alike may swap in: common characters of similar weight, so the layout
# stays the same.
SWAP_POOL = "华宏恒金新长东中盛永汇鼎联博嘉瑞泰万光天明安远兴正桥同弘利康富德图飞银海龙国益建"


def unit_name(rng: np.random.Generator) -> str:
    """A company's legal name."""
    place = str(rng.choice(PROVINCES if rng.random() < 0.5 else CITIES))
    if rng.random() < 0.2:
        place += str(rng.choice(DISTRICTS))
    trade = str(rng.choice(TRADE_WORDS))
    if rng.random() < 0.25:
        trade += str(rng.choice(TRADE_WORDS))
    return place + trade + str(rng.choice(INDUSTRIES)) + str(rng.choice(FORMS))


def government_name(rng: np.random.Generator) -> str:
    """A government body's name: province or city and the body."""
    if rng.random() < 0.4:
        place = str(rng.choice(PROVINCES[4:])) + "省"
    else:
        place = str(rng.choice(CITIES)) + "市"
        if rng.random() < 0.4:
            place += str(rng.choice(DISTRICTS))
    return place + str(rng.choice(GOVERNMENT))


def person_name(rng: np.random.Generator) -> str:
    """A legal representative's name seal text: 2 to 4 characters (e.g. 李庆国印)."""
    n_given = int(rng.integers(1, 3))
    name = str(rng.choice(list(PERSON_SURNAMES))) + "".join(
        rng.choice(list(PERSON_GIVEN), n_given))
    if len(name) < 4 and rng.random() < 0.6:
        name += "印"
    return name


def look_alike(name: str, rng: np.random.Generator, n_changes: int | None = None) -> str:
    """``name`` with one or two characters of its trade name swapped for others."""
    n_changes = n_changes or int(rng.integers(1, 3))
    chars = list(name)
    # swap inside the trade name: after the place (first 2-3 chars), before the form
    lo = 2
    hi = max(lo + 1, len(chars) - 4)
    positions = rng.choice(np.arange(lo, hi), size=min(n_changes, hi - lo), replace=False)
    for p in positions:
        choices = [c for c in SWAP_POOL if c != chars[p]]
        chars[p] = str(rng.choice(choices))
    out = "".join(chars)
    return out if out != name else look_alike(name, rng, n_changes)


def seal_code(rng: np.random.Generator, area: str | None = None) -> str:
    """13-digit seal code: 4-digit area, 3-digit engraver, 6-digit serial."""
    area = area or f"{int(rng.integers(1100, 6600)):04d}"
    return f"{area}{int(rng.integers(1, 1000)):03d}{int(rng.integers(0, 10**6)):06d}"


_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code(rng: np.random.Generator) -> str:
    """An 18-character unified social credit code with a valid GB 32100 check character."""
    body = "91" + f"{int(rng.integers(110000, 660000)):06d}" + "".join(
        rng.choice(list(_USCC_ALPHABET), 9))
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(body, _USCC_WEIGHTS, strict=True))
    return body + _USCC_ALPHABET[(31 - total % 31) % 31]
